/**
 * @module pontoon/api
 *
 * The API layer: etcd's v3 protobuf messages (hand-written codecs, strict decoding of untrusted
 * input) and a gRPC server over node:http2 that also answers HTTP/1.1 on the same port. It knows
 * neither MVCC nor raft: the server layer registers handlers and owns etcd's error table.
 */

// Wire primitives and the codec interface.
export {
  MAX_DEPTH,
  Reader,
  Writer,
  decodeMessage,
  encodeMessage,
  varintSize,
  type MessageCodec,
} from './proto/wire.js'
export { ApiError, type ApiErrorCode } from './api-error.js'

// mvccpb.
export {
  EventCodec,
  EventType,
  KeyValueCodec,
  keyValue,
  type Event,
  type KeyValue,
} from './proto/kv.js'

// etcdserverpb: KV.
export {
  CompactionRequestCodec,
  CompactionResponseCodec,
  CompareCodec,
  CompareResult,
  CompareTarget,
  DeleteRangeRequestCodec,
  DeleteRangeResponseCodec,
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  RequestOpCodec,
  ResponseHeaderCodec,
  ResponseOpCodec,
  SortOrder,
  SortTarget,
  TxnRequestCodec,
  TxnResponseCodec,
  deleteRangeRequest,
  emptyCodec,
  headerOnlyCodec,
  putRequest,
  rangeRequest,
  type CompactionRequest,
  type CompactionResponse,
  type Compare,
  type CompareTargetUnion,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type Empty,
  type HeaderOnlyResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from './proto/rpc-kv.js'

// etcdserverpb: Maintenance.Status.
export {
  StatusRequestCodec,
  StatusResponseCodec,
  statusResponse,
  type StatusRequest,
  type StatusResponse,
} from './proto/rpc-maintenance.js'

// etcdserverpb: Cluster.
export {
  MemberAddRequestCodec,
  MemberAddResponseCodec,
  MemberCodec,
  MemberListRequestCodec,
  MemberListResponseCodec,
  MemberPromoteRequestCodec,
  MemberPromoteResponseCodec,
  MemberRemoveRequestCodec,
  MemberRemoveResponseCodec,
  MemberUpdateRequestCodec,
  MemberUpdateResponseCodec,
  member,
  type Member,
  type MemberAddRequest,
  type MemberAddResponse,
  type MemberIdRequest,
  type MemberListRequest,
  type MemberListResponse,
  type MemberPromoteRequest,
  type MemberPromoteResponse,
  type MemberRemoveRequest,
  type MemberRemoveResponse,
  type MemberUpdateRequest,
  type MemberUpdateResponse,
  type MembersResponse,
} from './proto/rpc-cluster.js'

// etcdserverpb: Watch.
export {
  WatchCancelRequestCodec,
  WatchCreateRequestCodec,
  WatchFilterType,
  WatchProgressRequestCodec,
  WatchRequestCodec,
  WatchResponseCodec,
  encodeWatchEvents,
  encodeWatchHeaderField,
  watchCreateRequest,
  watchEventsFrameSize,
  writeWatchEventsFrame,
  watchEventSize,
  watchResponse,
  type WatchCancelRequest,
  type WatchCreateRequest,
  type WatchProgressRequest,
  type WatchRequest,
  type WatchResponse,
} from './proto/rpc-watch.js'
// etcdserverpb: Lease (and leasepb's internal messages for the peer port).
export {
  LeaseCheckpointCodec,
  LeaseCheckpointRequestCodec,
  LeaseCheckpointResponseCodec,
  LeaseGrantRequestCodec,
  LeaseGrantResponseCodec,
  LeaseInternalRequestCodec,
  LeaseInternalResponseCodec,
  LeaseKeepAliveRequestCodec,
  LeaseKeepAliveResponseCodec,
  LeaseLeasesRequestCodec,
  LeaseLeasesResponseCodec,
  LeaseRevokeRequestCodec,
  LeaseRevokeResponseCodec,
  LeaseStatusCodec,
  LeaseTimeToLiveRequestCodec,
  LeaseTimeToLiveResponseCodec,
  type LeaseCheckpoint,
  type LeaseCheckpointRequest,
  type LeaseCheckpointResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseIdRequest,
  type LeaseInternalRequest,
  type LeaseInternalResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseLeasesRequest,
  type LeaseLeasesResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type LeaseStatus,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
} from './proto/rpc-lease.js'

// gRPC.
export { GrpcStatus, RpcError, type GrpcStatusCode } from './grpc/rpc-error.js'
export {
  RpcServer,
  type ApiLogger,
  type CallInfo,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
  type RpcServerOptions,
  type StreamCall,
  type UnaryHandler,
} from './grpc/rpc-server.js'

// HPACK (RFC 7541), for HTTP/2 clients written here too (the server benchmark's load generator).
export {
  HpackDecoder,
  encodeHeaders,
  encodedSizeMax,
  type DecodedHeaders,
  type OutgoingHeaders,
} from './h2/hpack.js'
