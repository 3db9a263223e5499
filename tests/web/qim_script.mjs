// The qim terminal client in script mode (tools/qim/README.md "Script output"), fed one command
// at a time on stdin; its output lines are kept and matched with deadlines.
import { spawn } from 'node:child_process';
import { until } from './deadline.mjs';

export class QimScript {
  constructor(qim, { server, ca, device }) {
    this.lines = [];
    this.claimed = new Set();
    this.stderr = '';
    this.child = spawn(qim, ['--server', server, '--ca', ca, '--device', device, '--timeout-ms', '20000'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop();
      this.lines.push(...parts);
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
    this.exit = null;
    this.child.once('exit', (code, signal) => (this.exit = signal ?? code));
  }

  // The first unclaimed line matching `pattern`, claimed.
  async line(pattern, what, timeoutMs = 30000) {
    let found = null;
    await until(`qim prints ${what}`, timeoutMs, () => {
      const index = this.lines.findIndex((line, i) => !this.claimed.has(i) && pattern.test(line));
      if (index >= 0) {
        this.claimed.add(index);
        found = this.lines[index];
        return true;
      }
      if (this.exit !== null) throw new Error(`qim exited (${this.exit}) before ${what}:\n${this.transcript()}`);
      return false;
    });
    return found;
  }

  // Runs a command and waits for its ok record; an error record fails the test.
  // `send` answers with a `sent` record, the other commands with `ok command=<name>`.
  async command(text) {
    const name = text.split(' ')[0];
    const answer = name === 'send' ? '^(sent |error .*command=send\\b)' : `^(ok|error) .*command=${name}\\b`;
    this.child.stdin.write(text + '\n');
    const line = await this.line(new RegExp(answer), `the answer to '${text}'`);
    if (line.startsWith('error')) throw new Error(`qim '${text}' failed: ${line}`);
    return line;
  }

  transcript() {
    return this.lines.join('\n') + (this.stderr ? `\n[stderr]\n${this.stderr}` : '');
  }

  async stop() {
    if (this.exit !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
