// A three-node qimd cluster on loopback for the browser test: a test CA and a server
// certificate for 127.0.0.1 (openssl, as the e2e TLS tests make theirs), TLS on the native and
// the WebSocket ports, the web client served from --web-root.
import { spawn, execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { until } from './deadline.mjs';

export function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const file = (name) => path.join(dir, name);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=qim-web-test-ca');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext'));
  const certificate = new X509Certificate(fs.readFileSync(file('server.pem')));
  // Chromium's --ignore-certificate-errors-spki-list takes base64(sha256(SubjectPublicKeyInfo)):
  // it then accepts this one key and nothing else.
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return {
    ca: file('ca.pem'),
    cert: file('server.pem'),
    key: file('server.key'),
    spkiHash: createHash('sha256').update(spki).digest('base64'),
  };
}

// A port nothing listens on right now (the node binds it moments later).
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function tail(file, bytes = 4000) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

export class Node {
  constructor(name, dir) {
    this.name = name;
    this.dir = path.join(dir, name);
    this.dataDir = path.join(this.dir, 'data');
    this.portFile = path.join(this.dir, 'port');
    this.log = path.join(this.dir, 'qimd.log');
    fs.mkdirSync(this.dataDir, { recursive: true });
    this.process = null;
  }

  get origin() {
    return `https://127.0.0.1:${this.wsPort}`;
  }

  async start({ qimd, keyFile, certs, webRoot, seed, origins, wsPort }) {
    this.wsPort = wsPort;
    fs.rmSync(this.portFile, { force: true });
    const args = [
      '--listen', '127.0.0.1:0', '--port-file', this.portFile, '--data-dir', this.dataDir,
      '--node-name', this.name, '--pwhash-cost', 'min', '--registrations-per-minute', '1000000',
      '--cluster-key-file', keyFile, '--probe-interval-ms', '200', '--probe-timeout-ms', '100',
      '--gossip-interval-ms', '50', '--push-pull-interval-ms', '2000',
      '--tls-cert', certs.cert, '--tls-key', certs.key,
      '--ws-listen', `127.0.0.1:${wsPort}`, '--web-root', webRoot,
    ];
    for (const origin of origins) args.push('--ws-allowed-origin', origin);
    if (this.gossipPort) args.push('--gossip-listen', `127.0.0.1:${this.gossipPort}`);
    if (seed) args.push('--seed', `127.0.0.1:${seed.gossipPort}`);
    const log = fs.openSync(this.log, 'a');
    this.process = spawn(qimd, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    let exited = null;
    this.process.once('exit', (code, signal) => (exited = signal ?? code));
    await until(`${this.name} writes its port file`, 20000, () => {
      if (exited !== null) throw new Error(`${this.name} exited (${exited}):\n${tail(this.log)}`);
      const text = fs.existsSync(this.portFile) ? fs.readFileSync(this.portFile, 'utf8') : '';
      const port = parseInt(text, 10);
      if (!(port > 0)) return false;
      this.port = port;
      this.gossipPort = parseInt(/gossip\s+(\d+)/.exec(text)?.[1] ?? '0', 10);
      return true;
    });
  }

  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }

  qimctl(qimctlPath, args) {
    try {
      return execFileSync(qimctlPath, ['--port-file', this.portFile, '--data-dir', this.dataDir,
        '--timeout-ms', '5000', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      return null;
    }
  }

  logTail() {
    return tail(this.log);
  }
}

export async function startCluster({ qimd, qimctl, dir, webRoot }) {
  const certs = makeCertificates(dir);
  const keyFile = path.join(dir, 'cluster.key');
  execFileSync(qimd, ['--generate-cluster-key', keyFile], { stdio: 'ignore' });
  const nodes = ['n1', 'n2', 'n3'].map((name) => new Node(name, dir));
  const wsPorts = [];
  for (let i = 0; i < nodes.length; i++) wsPorts.push(await freePort());
  // A page from any node may be redirected to any other node's WebSocket.
  const origins = wsPorts.map((port) => `https://127.0.0.1:${port}`);
  for (const [i, node] of nodes.entries()) {
    await node.start({ qimd, keyFile, certs, webRoot, seed: i === 0 ? null : nodes[0], origins, wsPort: wsPorts[i] });
  }
  await waitReplicated(nodes[0], qimctl, nodes.length);
  return { nodes, certs };
}

// Every partition has a leader and all replicas, every node leads some, and the layout held
// still for a second (as tests/e2e/cluster_support.cc waits).
async function waitReplicated(node, qimctl, count) {
  let previous = '';
  let since = 0;
  await until('the cluster is replicated and settled', 90000, () => {
    const out = node.qimctl(qimctl, ['--json', 'partitions']);
    if (!out) return false;
    const counts = /"under_replicated":(\d+),"leaderless":(\d+),"nodes_answered":(\d+)/.exec(out);
    if (!counts || counts[1] !== '0' || counts[2] !== '0' || Number(counts[3]) !== count) return false;
    const leading = [...out.matchAll(/"leaders":(\d+)/g)].filter((m) => m[1] !== '0').length;
    if (leading !== count) return false;
    const layout = [...out.matchAll(/"leader":"([^"]*)"/g)].map((m) => m[1]).join(',');
    if (layout !== previous) {
      previous = layout;
      since = Date.now();
      return false;
    }
    return Date.now() - since >= 1000;
  }, 250);
}
