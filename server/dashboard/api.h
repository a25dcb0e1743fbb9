// File: server/dashboard/api.h
//
// The dashboard's JSON API (documented in docs/dashboard.md): read-only GET endpoints answered
// from the ExperimentManager, the same service layer as the gRPC API. No HTTP types: the
// HTTP server (http_server.h) passes the path and query parameters and sends the response, so
// every endpoint is unit-tested without a socket.
#ifndef HPO_SERVER_DASHBOARD_API_H_
#define HPO_SERVER_DASHBOARD_API_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/service/experiment_manager.h"

namespace hpo::dashboard {

struct ApiResponse {
  int http_status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The HTTP status for a Status: INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
// NOT_FOUND 404, ALREADY_EXISTS / FAILED_PRECONDITION 409, RESOURCE_EXHAUSTED 429, others 500.
int HttpStatusFor(const absl::Status& status);
// {"error": {"code": "NOT_FOUND", "message": "..."}} with HttpStatusFor(status).
ApiResponse ErrorResponse(const absl::Status& status);

class DashboardApi {
 public:
  using Params = std::multimap<std::string, std::string>;

  // `manager` and `clock` are not owned. A worker is "live" while its last heartbeat is younger
  // than `worker_live_window` (the lease timeout).
  DashboardApi(service::ExperimentManager* manager, Clock* clock, absl::Duration worker_live_window);

  // Answers GET `path` (which starts with /api/v1/) with query `params`. Unknown paths are 404,
  // bad ids or parameters 400, with the JSON error body. A non-empty `project_scope` limits
  // the answer to that project: lists are narrowed, anything else of another project is 403.
  ApiResponse Handle(const std::string& path, const Params& params,
                     const std::string& project_scope = "");

 private:
  ApiResponse Experiments(const Params& params);
  ApiResponse ExperimentDetail(int64_t id);
  ApiResponse Observations(int64_t id);
  ApiResponse ObservationsCsv(int64_t id);
  ApiResponse Improvement(int64_t id);
  ApiResponse Importance(int64_t id);
  ApiResponse Curves(int64_t id, const Params& params);
  ApiResponse Pareto(int64_t id);
  ApiResponse Constraints(int64_t id);
  ApiResponse Sources(int64_t id);
  ApiResponse Workers(const Params& params, const std::string& scope);
  absl::Status CheckScope(int64_t experiment_id, const std::string& scope);

  service::ExperimentManager* manager_;
  Clock* clock_;
  absl::Duration worker_live_window_;
};

}  // namespace hpo::dashboard

#endif  // HPO_SERVER_DASHBOARD_API_H_
