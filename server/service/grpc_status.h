// File: server/service/grpc_status.h
//
// absl::Status -> grpc::Status, the only place the server converts. The codes are numerically
// identical; the message is copied.
#ifndef HPO_SERVER_SERVICE_GRPC_STATUS_H_
#define HPO_SERVER_SERVICE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace hpo::service {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_GRPC_STATUS_H_
