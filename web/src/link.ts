// The signed-in connection to the user's home node (DESIGN §7): log in anywhere, follow
// Redirect to the home, and when the connection is lost come back with the token after a
// backoff, alternating between the last home and the node that served the page (which
// redirects to wherever the home is now).
import { reconnectDelay } from './backoff';
import { Connection, ConnectionLost } from './connection';
import { nodeUrl, reconnectUrl, redirectUrl } from './endpoints';
import { ErrorCode, ServerError } from './errors';
import type { Reply, Request } from './wire';

const MAX_REDIRECTS = 5;
export const REQUEST_TIMEOUT_MS = 10000;

export type LinkState =
  | { kind: 'signed-out' }
  | { kind: 'connecting' }
  | { kind: 'online'; node: string }
  | { kind: 'reconnecting'; attempt: number; inMs: number; why: string };

export interface LinkEvents {
  onState: (state: LinkState) => void;
  onPush: (push: Reply) => void;
  // The session is (again) logged in: the owner syncs. resumed: after a lost connection.
  onSignedIn: (user: string, token: string, resumed: boolean) => void;
  // The session ended for good (token refused, signed out elsewhere): why, for the screen.
  onSignedOut: (why: string) => void;
}

export class Link {
  private connection: Connection | null = null;
  private homeUrl: string | null = null;
  // Every node's WebSocket the cluster named in its last HelloOk (newest list kept).
  private knownUrls: string[] = [];
  private user = '';
  private token = '';
  private reconnectTimer = 0;
  private generation = 0;

  constructor(
    private readonly pageProtocol: string,
    private readonly originUrl: string,
    private readonly device: string,
    private readonly events: LinkEvents,
  ) {}

  get signedInUser(): string {
    return this.user;
  }

  get maxBodyBytes(): number {
    return this.connection?.maxBodyBytes ?? 0;
  }

  // Register (when asked) and log in with the password. Throws ServerError or ConnectionLost.
  async signIn(user: string, password: string, register: boolean): Promise<void> {
    this.stop();
    const generation = ++this.generation;
    this.events.onState({ kind: 'connecting' });
    try {
      if (register) {
        const [connection, reply] = await this.openHome(this.originUrl, generation, {
          kind: 'register',
          user,
          password,
        });
        connection.close();
        if (reply.kind !== 'ok') throw unexpected('Register', reply);
      }
      await this.login(generation, this.originUrl, { kind: 'login', user, password, device: this.device });
    } catch (error) {
      if (generation === this.generation) this.events.onState({ kind: 'signed-out' });
      throw error;
    }
  }

  // Resume a session saved across a page reload.
  resume(user: string, token: string): void {
    this.stop();
    this.user = user;
    this.token = token;
    this.scheduleReconnect(++this.generation, 0, 'resuming the session');
  }

  // Ends the session on the server (this device's token) and here.
  async signOut(): Promise<void> {
    const connection = this.connection;
    this.stop();
    this.user = '';
    this.token = '';
    if (connection) {
      await connection.request({ kind: 'logout', allDevices: false }, 3000).catch(() => undefined);
      connection.close();
    }
    this.events.onState({ kind: 'signed-out' });
  }

  // A request to the home: the reply, or ServerError for an Error frame, or ConnectionLost.
  async call(request: Request, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Reply> {
    if (!this.connection) throw new ConnectionLost('not connected; reconnecting');
    const reply = await this.connection.request(request, timeoutMs);
    if (reply.kind === 'error') throw new ServerError(reply.code, reply.message);
    return reply;
  }

  post(request: Request): void {
    this.connection?.post(request);
  }

  private async login(generation: number, url: string, request: Request): Promise<void> {
    const [connection, reply] = await this.openHome(url, generation, request);
    if (reply.kind !== 'login-ok') {
      connection.close();
      throw unexpected('Login', reply);
    }
    if (generation !== this.generation) {
      connection.close();
      throw new ConnectionLost('superseded by a newer sign-in');
    }
    const resumed = this.token !== '' && this.user === reply.user;
    this.connection = connection;
    this.homeUrl = connection.url;
    this.user = reply.user;
    this.token = reply.token;
    this.events.onState({ kind: 'online', node: reply.node || connection.node });
    this.events.onSignedIn(reply.user, reply.token, resumed);
  }

  // Connects to `url` and sends `first`, following Redirects to the home. The reply is not an
  // Error (thrown as ServerError) nor a Redirect.
  private async openHome(url: string, generation: number, first: Request): Promise<[Connection, Reply]> {
    for (let redirects = 0; ; redirects++) {
      const connection = await Connection.open(url, {
        onPush: (push) => this.onPush(connection, push),
        onClose: (why) => this.onClose(connection, generation, why),
      });
      if (connection.clusterWsNodes.length > 0) {
        this.knownUrls = connection.clusterWsNodes.map((address) => nodeUrl(this.pageProtocol, address));
      }
      let reply: Reply;
      try {
        reply = await connection.request(first, REQUEST_TIMEOUT_MS);
      } catch (error) {
        connection.close();
        throw error;
      }
      if (reply.kind === 'error') {
        connection.close();
        throw new ServerError(reply.code, reply.message);
      }
      if (reply.kind !== 'redirect') return [connection, reply];
      connection.close();
      const next = redirectUrl(this.pageProtocol, reply.host, reply.wsPort);
      if (next === null) {
        throw new ConnectionLost(
          `your home node ${reply.node} has no WebSocket port this browser can reach (it listens on ${reply.host}:${reply.port} for native clients only)`,
        );
      }
      if (redirects >= MAX_REDIRECTS) throw new ConnectionLost(`gave up after ${MAX_REDIRECTS} redirects`);
      url = next;
    }
  }

  private onPush(connection: Connection, push: Reply): void {
    if (connection !== this.connection) return;
    if (push.kind === 'redirect') {
      // The home moved: reconnect there at once (the close below starts it).
      this.homeUrl = redirectUrl(this.pageProtocol, push.host, push.wsPort) ?? this.originUrl;
      connection.close();
      return;
    }
    if (push.kind === 'error' && push.code === ErrorCode.Kicked) {
      // Signed out by an administrator or by another login of this device: do not fight it.
      this.stop();
      this.token = '';
      this.events.onState({ kind: 'signed-out' });
      this.events.onSignedOut(`signed out: ${push.message}`);
      return;
    }
    this.events.onPush(push);
  }

  private onClose(connection: Connection, generation: number, why: string): void {
    if (connection !== this.connection || generation !== this.generation) return;
    this.connection = null;
    this.scheduleReconnect(generation, 0, why);
  }

  private scheduleReconnect(generation: number, attempt: number, why: string): void {
    if (generation !== this.generation || this.token === '') return;
    const inMs = attempt === 0 ? 0 : reconnectDelay(attempt);
    this.events.onState({ kind: 'reconnecting', attempt: attempt + 1, inMs, why });
    this.reconnectTimer = window.setTimeout(() => {
      const url = reconnectUrl(attempt, this.homeUrl, this.originUrl, this.knownUrls);
      this.login(generation, url, {
        kind: 'login',
        user: this.user,
        token: this.token,
        device: this.device,
      }).catch((error: Error) => {
        if (generation !== this.generation) return;
        if (error instanceof ServerError && error.code === ErrorCode.AuthFailed) {
          this.token = '';
          this.events.onState({ kind: 'signed-out' });
          this.events.onSignedOut(`your session ended (${error.serverMessage}); sign in again`);
          return;
        }
        this.scheduleReconnect(generation, attempt + 1, error.message);
      });
    }, inMs);
  }

  private stop(): void {
    this.generation++;
    window.clearTimeout(this.reconnectTimer);
    const connection = this.connection;
    this.connection = null;
    connection?.close();
  }
}

function unexpected(what: string, reply: Reply): Error {
  return new ConnectionLost(`the server answered ${what} with ${reply.kind}`);
}
