// One WebSocket to one node: Hello, numbered requests matched to their replies, pushes handed
// on, and the heartbeat (README "Heartbeats": ping after the advertised silence, give up when
// nothing at all arrives within the Pong timeout).
import { decodeEnvelope, encodeRequest, Reply, Request } from './wire';

export const CLIENT_NAME = 'qim-web 0.1.0';
const CONNECT_TIMEOUT_MS = 8000;
const PONG_TIMEOUT_MS = 3000;
const DEFAULT_HEARTBEAT_MS = 3000;

// A request that got no reply: the connection closed or the node stayed silent.
export class ConnectionLost extends Error {}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
  timer: number;
}

export interface ConnectionEvents {
  onPush: (reply: Reply) => void;
  onClose: (reason: string) => void;
}

export class Connection {
  private nextReqId = 1;
  private readonly pending = new Map<number, Pending>();
  private heartbeatMs = DEFAULT_HEARTBEAT_MS;
  private lastHeard = Date.now();
  private lastSent = Date.now();
  private pingSentAt = 0;
  private heartbeatTimer = 0;
  private closed = false;
  // Set once HelloOk arrived: a connection that never opened reports through open()'s
  // rejection, not onClose.
  private established = false;
  node = '';
  maxBodyBytes = 0;
  // WebSocket addresses of the cluster's live nodes, from HelloOk.
  clusterWsNodes: string[] = [];

  private constructor(
    readonly url: string,
    private readonly socket: WebSocket,
    private readonly events: ConnectionEvents,
  ) {}

  // Resolves once HelloOk arrived; rejects with a sentence saying what went wrong.
  static open(url: string, events: ConnectionEvents): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url);
      } catch (error) {
        reject(new ConnectionLost(`cannot open ${url}: ${String(error)}`));
        return;
      }
      socket.binaryType = 'arraybuffer';
      const connection = new Connection(url, socket, events);
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        window.clearTimeout(timer);
        connection.shutdown(why);
        reject(new ConnectionLost(why));
      };
      const timer = window.setTimeout(() => fail(`no answer from ${url} in time`), CONNECT_TIMEOUT_MS);
      socket.onerror = () => fail(`cannot reach ${url}`);
      socket.onclose = (event) => {
        if (!settled) fail(`${url} closed the connection (${event.code} ${event.reason})`.trim());
        else connection.shutdown(closeReason(event));
      };
      socket.onmessage = (event) => connection.receive(event.data);
      socket.onopen = () => {
        connection
          .request({ kind: 'hello', clientName: CLIENT_NAME }, CONNECT_TIMEOUT_MS)
          .then((reply) => {
            if (reply.kind === 'hello-ok') {
              if (settled) return;
              settled = true;
              window.clearTimeout(timer);
              connection.established = true;
              connection.node = reply.node;
              connection.maxBodyBytes = reply.maxBodyBytes;
              connection.clusterWsNodes = reply.clusterWsNodes;
              if (reply.heartbeatIntervalMs > 0) connection.heartbeatMs = reply.heartbeatIntervalMs;
              connection.startHeartbeat();
              resolve(connection);
            } else if (reply.kind === 'error') {
              fail(`the server refused the connection: ${reply.message}`);
            } else {
              fail(`the server answered Hello with ${reply.kind}`);
            }
          })
          .catch((error: Error) => fail(error.message));
      };
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  // Resolves with the reply, Error replies included; rejects with ConnectionLost.
  request(request: Request, timeoutMs: number): Promise<Reply> {
    if (this.closed) return Promise.reject(new ConnectionLost('not connected'));
    const reqId = this.nextReqId++;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(reqId);
        reject(new ConnectionLost(`no answer to ${request.kind} in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(reqId, { resolve, reject, timer });
      this.write(reqId, request);
    });
  }

  // For requests whose reply nobody waits for (acks).
  post(request: Request): void {
    if (!this.closed) this.write(this.nextReqId++, request);
  }

  close(): void {
    this.shutdown('closed by the client');
  }

  private write(reqId: number, request: Request): void {
    this.socket.send(encodeRequest(reqId, request));
    this.lastSent = Date.now();
  }

  private receive(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      this.shutdown('the server sent a text message; qim speaks binary frames only');
      return;
    }
    this.lastHeard = Date.now();
    this.pingSentAt = 0;
    let envelope;
    try {
      envelope = decodeEnvelope(new Uint8Array(data));
    } catch (error) {
      this.shutdown(`unreadable frame from the server: ${(error as Error).message}`);
      return;
    }
    const pending = envelope.reqId === 0 ? undefined : this.pending.get(envelope.reqId);
    if (pending) {
      this.pending.delete(envelope.reqId);
      window.clearTimeout(pending.timer);
      pending.resolve(envelope.reply);
    } else if (envelope.reply.kind !== 'pong' && envelope.reply.kind !== 'ok') {
      this.events.onPush(envelope.reply);
    }
  }

  private startHeartbeat(): void {
    const tick = Math.max(250, Math.min(1000, this.heartbeatMs / 4));
    this.heartbeatTimer = window.setInterval(() => this.beat(), tick);
  }

  private beat(): void {
    const now = Date.now();
    if (this.pingSentAt !== 0) {
      if (now - this.pingSentAt > PONG_TIMEOUT_MS) {
        this.shutdown(`the server stopped answering (no Pong in ${PONG_TIMEOUT_MS / 1000} s)`);
      }
      return;
    }
    if (now - Math.max(this.lastHeard, this.lastSent) >= this.heartbeatMs) {
      this.pingSentAt = now;
      this.post({ kind: 'ping', nonce: BigInt(now) });
    }
  }

  private shutdown(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    window.clearInterval(this.heartbeatTimer);
    for (const pending of this.pending.values()) {
      window.clearTimeout(pending.timer);
      pending.reject(new ConnectionLost(reason));
    }
    this.pending.clear();
    this.socket.onclose = null;
    this.socket.onmessage = null;
    this.socket.onerror = null;
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
    if (this.established) this.events.onClose(reason);
  }
}

function closeReason(event: CloseEvent): string {
  if (event.reason) return `the server closed the connection: ${event.reason}`;
  return `the connection closed (code ${event.code})`;
}
