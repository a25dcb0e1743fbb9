#include "server/service/experiment_service.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "server/service/grpc_status.h"
#include "server/space/validation.h"

namespace hpo::service {
namespace {

using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

template <typename T, typename Repeated>
void MoveAll(std::vector<T>&& items, Repeated* out) {
  out->Reserve(static_cast<int>(items.size()));
  for (T& item : items) *out->Add() = std::move(item);
}

template <typename Enum, typename Repeated>
std::vector<Enum> ToEnums(const Repeated& values) {
  std::vector<Enum> out;
  for (int v : values) out.push_back(static_cast<Enum>(v));
  return out;
}

// ---- Paging of the List RPCs (see experiment_service.proto) ----

// Items of one page stop before the reply passes this, leaving room under gRPC's default 4 MiB
// receive limit.
constexpr size_t kMaxPageBytes = 3 << 20;
// Room kept in the budget for next_page_token.
constexpr size_t kPageTokenRoom = 128;
constexpr size_t kMaxPageTokenLength = 256;

// One List RPC's paging. Its items come from the manager ordered by a unique key (an id or a
// step), growing or, with `descending`, shrinking.
struct PageKind {
  const char* rpc;      // in error messages
  const char* tag;      // in tokens
  const char* filters;  // the request fields a token is bound to, in error messages
  bool descending;
  int64_t min_key;  // smallest valid key: 1 for ids, 0 for steps
  int32_t default_size;
  int32_t max_size;
};

constexpr PageKind kExperimentPages = {
    "ListExperiments", "experiments", "project and states", /*descending=*/true, 1, 100, 1000};
constexpr PageKind kSuggestionPages = {
    "ListSuggestions", "suggestions", "experiment_id and states", false, 1, 1000, 10000};
constexpr PageKind kObservationPages = {
    "ListObservations", "observations", "experiment_id", false, 1, 1000, 10000};
constexpr PageKind kCheckpointPages = {
    "ListCheckpoints", "checkpoints", "experiment_id and suggestion_id", false, 0, 1000, 10000};

// A short digest of a request's filters (FNV-1a), so that a token given to other filters is
// refused instead of resuming at a position that means something else there.
std::string FilterDigest(const std::string& filter) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : filter) h = (h ^ c) * 1099511628211ull;
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16));
}

template <typename Repeated>
std::string StatesFilter(const Repeated& states) {
  std::vector<int> sorted(states.begin(), states.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  return absl::StrJoin(sorted, ",");
}

// Where a page starts. The token is web-safe base64 of "v1:<tag>:<filter digest>:<last key>":
// the key of the last item returned, so that the next page resumes after it whatever was
// created or deleted in between.
struct Page {
  const PageKind* kind;
  std::string digest;
  int32_t size;
  bool first;
  int64_t after;  // the last key already returned, unless `first`
};

absl::StatusOr<Page> StartPage(const PageKind& kind, const std::string& filter, int32_t page_size,
                               const std::string& page_token) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be >= 0 (got ", page_size, ")"));
  }
  Page page{&kind, FilterDigest(filter),
            page_size == 0 ? kind.default_size : std::min(page_size, kind.max_size), true, 0};
  if (page_token.empty()) return page;
  const absl::Status malformed = absl::InvalidArgumentError(absl::StrCat(
      "page_token: not a next_page_token of ", kind.rpc, "; omit it for the first page"));
  std::string decoded;
  if (page_token.size() > kMaxPageTokenLength ||
      !absl::WebSafeBase64Unescape(page_token, &decoded)) {
    return malformed;
  }
  const std::vector<std::string> parts = absl::StrSplit(decoded, ':');
  if (parts.size() != 4 || parts[0] != "v1" || parts[1] != kind.tag ||
      !absl::SimpleAtoi(parts[3], &page.after) || page.after < kind.min_key) {
    return malformed;
  }
  if (parts[2] != page.digest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: was given for other ", kind.filters,
        "; send the same filters as the first page, or omit page_token to start over"));
  }
  page.first = false;
  return page;
}

// Moves the items of `page` from `items` (the whole list, in order) into `out` and returns the
// token of the next page, empty when none remains.
template <typename T, typename KeyFn>
std::string FillPage(const Page& page, std::vector<T>&& items, KeyFn key,
                     google::protobuf::RepeatedPtrField<T>* out) {
  const PageKind& kind = *page.kind;
  size_t bytes = 0;
  int64_t last = 0;
  for (T& item : items) {
    const int64_t k = key(item);
    if (!page.first && (kind.descending ? k >= page.after : k <= page.after)) continue;
    const size_t size = item.ByteSizeLong();
    // The item as a field of the reply: tag, length, body.
    const size_t field = 1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
    if (out->size() == page.size ||
        (!out->empty() && bytes + field > kMaxPageBytes - kPageTokenRoom)) {
      return absl::WebSafeBase64Escape(absl::StrCat("v1:", kind.tag, ":", page.digest, ":", last));
    }
    bytes += field;
    last = k;
    *out->Add() = std::move(item);
  }
  return "";
}

// The body of a List handler: checks the paging fields, lists through `list` and replies with
// one page.
template <typename T, typename ListFn, typename KeyFn, typename Response>
ServerUnaryReactor* FinishPage(CallbackServerContext* context, const PageKind& kind,
                               const std::string& filter, int32_t page_size,
                               const std::string& page_token, ListFn list, KeyFn key,
                               google::protobuf::RepeatedPtrField<T>* out, Response* response) {
  absl::StatusOr<std::string> next = [&]() -> absl::StatusOr<std::string> {
    HPO_ASSIGN_OR_RETURN(Page page, StartPage(kind, filter, page_size, page_token));
    HPO_ASSIGN_OR_RETURN(std::vector<T> items, list());
    return FillPage(page, std::move(items), key, out);
  }();
  return FinishUnary(context, std::move(next),
                     [&](std::string token) { response->set_next_page_token(std::move(token)); });
}

}  // namespace

ServerUnaryReactor* ExperimentService::CreateExperiment(
    CallbackServerContext* context, const hpo::v1::CreateExperimentRequest* request,
    hpo::v1::CreateExperimentResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  // Validation can be costly (the feasibility search of linear constraints): it runs within the
  // caller's deadline and stops when the call is cancelled, so a client that gives up stops the
  // work.
  space::WorkLimits limits;
  limits.cancelled = [context] { return context->IsCancelled(); };
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    limits.deadline = absl::FromChrono(context->deadline());
  }
  return FinishUnary(
      context, manager_->CreateExperiment(request->experiment(), limits),
      [&](hpo::v1::Experiment e) { *response->mutable_experiment() = std::move(e); });
}

ServerUnaryReactor* ExperimentService::GetExperiment(CallbackServerContext* context,
                                                     const hpo::v1::GetExperimentRequest* request,
                                                     hpo::v1::GetExperimentResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->GetExperiment(request->experiment_id()),
      [&](hpo::v1::Experiment e) { *response->mutable_experiment() = std::move(e); });
}

ServerUnaryReactor* ExperimentService::ListExperiments(
    CallbackServerContext* context, const hpo::v1::ListExperimentsRequest* request,
    hpo::v1::ListExperimentsResponse* response) {
  std::string scope;  // a project-scoped token lists its project only
  if (auto* refused = Refuse(context, guard_, *request, &scope)) return refused;
  const std::string project = scope.empty() ? request->project() : scope;
  return FinishPage(
      context, kExperimentPages,
      absl::StrCat("project=", project, ";states=", StatesFilter(request->states())),
      request->page_size(), request->page_token(),
      [&] {
        return manager_->ListExperiments(project,
                                         ToEnums<hpo::v1::ExperimentState>(request->states()));
      },
      [](const hpo::v1::Experiment& e) { return e.id(); }, response->mutable_experiments(),
      response);
}

ServerUnaryReactor* ExperimentService::SetExperimentState(
    CallbackServerContext* context, const hpo::v1::SetExperimentStateRequest* request,
    hpo::v1::SetExperimentStateResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->SetExperimentState(request->experiment_id(), request->state()),
      [&](hpo::v1::Experiment e) { *response->mutable_experiment() = std::move(e); });
}

ServerUnaryReactor* ExperimentService::CreateSuggestion(
    CallbackServerContext* context, const hpo::v1::CreateSuggestionRequest* request,
    hpo::v1::CreateSuggestionResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->CreateSuggestion(request->experiment_id(), request->metadata()),
      [&](hpo::v1::Suggestion s) { *response->mutable_suggestion() = std::move(s); });
}

ServerUnaryReactor* ExperimentService::QueueSuggestion(
    CallbackServerContext* context, const hpo::v1::QueueSuggestionRequest* request,
    hpo::v1::QueueSuggestionResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context,
      manager_->QueueSuggestion(request->experiment_id(), request->assignment(),
                                request->metadata()),
      [&](hpo::v1::Suggestion s) { *response->mutable_suggestion() = std::move(s); });
}

ServerUnaryReactor* ExperimentService::ListSuggestions(
    CallbackServerContext* context, const hpo::v1::ListSuggestionsRequest* request,
    hpo::v1::ListSuggestionsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishPage(
      context, kSuggestionPages,
      absl::StrCat("experiment=", request->experiment_id(),
                   ";states=", StatesFilter(request->states())),
      request->page_size(), request->page_token(),
      [&] {
        return manager_->ListSuggestions(request->experiment_id(),
                                         ToEnums<hpo::v1::SuggestionState>(request->states()));
      },
      [](const hpo::v1::Suggestion& s) { return s.id(); }, response->mutable_suggestions(),
      response);
}

ServerUnaryReactor* ExperimentService::DeleteSuggestion(
    CallbackServerContext* context, const hpo::v1::DeleteSuggestionRequest* request,
    hpo::v1::DeleteSuggestionResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->DeleteSuggestion(request->experiment_id(), request->suggestion_id()),
      [&](hpo::v1::Suggestion s) { *response->mutable_suggestion() = std::move(s); });
}

ServerUnaryReactor* ExperimentService::CreateObservation(
    CallbackServerContext* context, const hpo::v1::CreateObservationRequest* request,
    hpo::v1::CreateObservationResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context, manager_->CreateObservation(*request), [&](hpo::v1::Observation o) {
    *response->mutable_observation() = std::move(o);
  });
}

ServerUnaryReactor* ExperimentService::ListObservations(
    CallbackServerContext* context, const hpo::v1::ListObservationsRequest* request,
    hpo::v1::ListObservationsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishPage(
      context, kObservationPages, absl::StrCat("experiment=", request->experiment_id()),
      request->page_size(), request->page_token(),
      [&] { return manager_->ListObservations(request->experiment_id()); },
      [](const hpo::v1::Observation& o) { return o.id(); }, response->mutable_observations(),
      response);
}

ServerUnaryReactor* ExperimentService::GetBestAssignments(
    CallbackServerContext* context, const hpo::v1::GetBestAssignmentsRequest* request,
    hpo::v1::GetBestAssignmentsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context, manager_->GetBestAssignments(request->experiment_id()),
                     [&](std::vector<hpo::v1::Observation> v) {
                       MoveAll(std::move(v), response->mutable_observations());
                     });
}

ServerUnaryReactor* ExperimentService::ListCheckpoints(
    CallbackServerContext* context, const hpo::v1::ListCheckpointsRequest* request,
    hpo::v1::ListCheckpointsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishPage(
      context, kCheckpointPages,
      absl::StrCat("experiment=", request->experiment_id(),
                   ";suggestion=", request->suggestion_id()),
      request->page_size(), request->page_token(),
      [&] { return manager_->ListCheckpoints(request->experiment_id(), request->suggestion_id()); },
      [](const hpo::v1::Checkpoint& c) { return c.step(); }, response->mutable_checkpoints(),
      response);
}

}  // namespace hpo::service
