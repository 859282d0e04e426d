/**
 * etcd's gRPC services as @grpc/grpc-js client constructors, loaded once from the rpc.proto the
 * etcd3 package ships (test support), for the raw clients (kv-client.ts, watch-client.ts,
 * lease-client.ts). The loader's options are the ones every raw client's comparisons rest on:
 * rpc.proto's snake_case field names, int64 as decimal strings, bytes as Buffer, defaults filled.
 * @grpc/proto-loader is resolved through etcd3 (its dependency), so the harness needs no package
 * of its own.
 */

import { createRequire } from 'node:module'
import * as grpc from '@grpc/grpc-js'

const fromEtcd3 = createRequire(createRequire(import.meta.url).resolve('etcd3'))
const protoLoader = fromEtcd3('@grpc/proto-loader') as {
  loadSync(path: string, opts: Record<string, unknown>): unknown
}
const protoPath = fromEtcd3.resolve('../proto/rpc.proto')

/** The proto-loader options: snake_case, int64 as strings, defaults filled (see module comment). */
const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
}

export type ServiceCtor = new (
  address: string,
  creds: grpc.ChannelCredentials,
  opts?: grpc.ClientOptions,
) => grpc.Client

export type EtcdServiceName = 'KV' | 'Watch' | 'Lease'

let services: Record<EtcdServiceName, ServiceCtor> | undefined

/** The client constructor of one etcdserverpb service. */
export function etcdService(name: EtcdServiceName): ServiceCtor {
  if (services === undefined) {
    const def = protoLoader.loadSync(protoPath, LOADER_OPTIONS) as unknown as Parameters<
      typeof grpc.loadPackageDefinition
    >[0]
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      etcdserverpb: Record<EtcdServiceName, ServiceCtor>
    }
    services = pkg.etcdserverpb
  }
  return services[name]
}
