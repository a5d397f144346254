/**
 * A fake NameNode for DataNode tests: it answers REGISTER, HEARTBEAT, CHUNK_REPORT and
 * REPORT_CORRUPT, records every request it gets, and hands out queued commands in heartbeat
 * replies, as the real NameNode does.
 */
import {
  BigFsError,
  type BigFsServer,
  type IncomingRequest,
  listen,
  type PushOf,
  type RequestOf,
} from "#protocol";

/** A command as a heartbeat reply carries it. */
export type Command = PushOf<"COMMANDS">["commands"][number];

/** Options for {@linkcode FakeNameNode.start}. */
export interface FakeNameNodeOptions {
  secret: Uint8Array;
  /** Port to bind; default 0. */
  port?: number;
  /** Sent in REGISTER replies; default 100 ms. */
  heartbeatIntervalMs?: number;
}

/** Records what DataNodes tell a NameNode. */
export class FakeNameNode {
  readonly registers: RequestOf<"REGISTER">[] = [];
  readonly heartbeats: RequestOf<"HEARTBEAT">[] = [];
  readonly chunkReports: RequestOf<"CHUNK_REPORT">[] = [];
  readonly corruptReports: RequestOf<"REPORT_CORRUPT">[] = [];
  /** DataNode ids whose next heartbeat is answered NOT_FOUND, as a NameNode that forgot them. */
  readonly forget = new Set<string>();
  readonly #commands = new Map<string, Command[]>();
  readonly #server: BigFsServer;

  private constructor(server: BigFsServer) {
    this.#server = server;
  }

  static async start(options: FakeNameNodeOptions): Promise<FakeNameNode> {
    let fake: FakeNameNode | undefined;
    const server = await listen({
      port: options.port ?? 0,
      secret: options.secret,
      role: "namenode",
      handler: (request) => fake!.#handle(request, options.heartbeatIntervalMs ?? 100),
    });
    fake = new FakeNameNode(server);
    return fake;
  }

  get port(): number {
    return this.#server.address.port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Queues a command for the DataNode's next heartbeat. */
  queueCommand(datanodeId: string, command: Command): void {
    const queued = this.#commands.get(datanodeId) ?? [];
    queued.push(command);
    this.#commands.set(datanodeId, queued);
  }

  /** Replicas the DataNode reported added (after its last REGISTER's full report too). */
  addedBy(datanodeId: string): RequestOf<"CHUNK_REPORT">["added"] {
    return this.chunkReports.filter((r) => r.datanodeId === datanodeId).flatMap((r) => r.added);
  }

  removedBy(datanodeId: string): RequestOf<"CHUNK_REPORT">["removed"] {
    return this.chunkReports.filter((r) => r.datanodeId === datanodeId).flatMap((r) => r.removed);
  }

  registersOf(datanodeId: string): RequestOf<"REGISTER">[] {
    return this.registers.filter((r) => r.datanodeId === datanodeId);
  }

  close(): Promise<void> {
    return this.#server.close();
  }

  async #handle(request: IncomingRequest, heartbeatIntervalMs: number): Promise<unknown> {
    switch (request.name) {
      case "REGISTER":
        this.registers.push(request.body as RequestOf<"REGISTER">);
        return { heartbeatIntervalMs };
      case "HEARTBEAT": {
        const body = request.body as RequestOf<"HEARTBEAT">;
        this.heartbeats.push(body);
        if (this.forget.delete(body.datanodeId)) {
          throw new BigFsError("NOT_FOUND", `Unknown DataNode ${body.datanodeId}`);
        }
        const commands = this.#commands.get(body.datanodeId) ?? [];
        this.#commands.delete(body.datanodeId);
        return { commands };
      }
      case "CHUNK_REPORT":
        this.chunkReports.push(request.body as RequestOf<"CHUNK_REPORT">);
        return {};
      case "REPORT_CORRUPT":
        this.corruptReports.push(request.body as RequestOf<"REPORT_CORRUPT">);
        return {};
      default:
        throw new BigFsError("INVALID_ARGUMENT", `Fake NameNode does not serve ${request.name}`);
    }
  }
}
