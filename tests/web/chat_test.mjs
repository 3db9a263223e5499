// The browser client end to end: a three-node cluster over wss://, two users in headless
// Chromium and one in qim's script mode chat directly and in a group, become friends through
// the UI, reload and resync, page back through history, and follow their home when it stops.
// Screenshots of the main screens go to --artifacts. Any message that does not arrive fails
// the test at its deadline.
//
// node chat_test.mjs --qimd PATH --qim PATH --qimctl PATH --web-root DIR --artifacts DIR
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchBrowser, User } from './browser.mjs';
import { startCluster } from './cluster.mjs';
import { QimScript } from './qim_script.mjs';

const { values: opts } = parseArgs({
  options: {
    qimd: { type: 'string' },
    qim: { type: 'string' },
    qimctl: { type: 'string' },
    'web-root': { type: 'string' },
    artifacts: { type: 'string' },
  },
});
for (const name of ['qimd', 'qim', 'qimctl', 'web-root', 'artifacts']) {
  if (!opts[name]) {
    console.error(`usage: node chat_test.mjs --${name} is required`);
    process.exit(2);
  }
}
if (!fs.existsSync(path.join(opts['web-root'], 'app.js'))) {
  console.error(`${opts['web-root']}/app.js is missing: build the client first (bash tools/build-web.sh)`);
  process.exit(2);
}

const PASSWORD = 'correct-horse-battery';
const step = (text) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`);

async function main() {
  fs.mkdirSync(opts.artifacts, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qim-web-test-'));
  let cluster = null;
  let browser = null;
  let carol = null;
  let passed = false;
  try {
    step('starting three nodes over TLS with WebSocket ports');
    cluster = await startCluster({ qimd: opts.qimd, qimctl: opts.qimctl, dir, webRoot: opts['web-root'] });
    const [n1, n2, n3] = cluster.nodes;

    browser = await launchBrowser(cluster.certs.spkiHash);
    const alice = await User.open(browser, 'alice', `${n1.origin}/`, opts.artifacts);
    const bob = await User.open(browser, 'bob', `${n2.origin}/`, opts.artifacts);
    await alice.waitUntil('the sign-in form is shown', () => !!document.querySelector('#login-user'));
    await alice.screenshot('01-login');

    step('alice and bob create accounts in the browser; carol in qim');
    await alice.signUp(PASSWORD);
    await bob.signUp(PASSWORD);
    carol = new QimScript(opts.qim, { server: `127.0.0.1:${n3.port}`, ca: cluster.certs.ca, device: 'script' });
    await carol.command(`register carol ${PASSWORD}`);
    await carol.command(`login carol ${PASSWORD}`);

    step('friend requests through the UI');
    await alice.type('#friend-user', 'bob');
    await alice.click('#friend-add');
    await bob.waitUntil('alice\'s request is shown', () => !!document.querySelector('li.friend[data-user="alice"][data-state="pending-in"]'));
    await bob.screenshot('02-friend-request');
    await bob.click('li.friend[data-user="alice"] button.accept');
    await alice.waitUntil('bob is a friend', () => !!document.querySelector('li.friend[data-user="bob"][data-state="accepted"]'));
    await alice.waitUntil('bob shows as online', () => !!document.querySelector('li.friend[data-user="bob"] .presence.online'));

    await carol.command('fadd alice');
    await alice.waitUntil('carol\'s request is shown', () => !!document.querySelector('li.friend[data-user="carol"][data-state="pending-in"]'));
    await alice.click('li.friend[data-user="carol"] button.accept');
    await carol.line(/^friend-accept .*from=alice/, 'alice accepting');
    await bob.type('#friend-user', 'carol');
    await bob.click('#friend-add');
    await carol.line(/^friend-request .*from=bob/, 'bob\'s request');
    await carol.command('faccept bob');
    await bob.waitUntil('carol is a friend', () => !!document.querySelector('li.friend[data-user="carol"][data-state="accepted"]'));

    step('a direct chat between the two browsers, with Unicode and emoji');
    const hello = 'Hello Bob 👋 — 你好, ça va? 🇫🇷';
    await alice.click('li.friend[data-user="bob"] button.link');
    await alice.waitUntil('the chat with bob is open', () => document.querySelector('#chat')?.dataset.conv === 'd:alice:bob');
    await alice.send(hello);
    await bob.waitUntil('the chat with alice is listed with one unread message', () =>
      document.querySelector('li.conversation[data-conv="d:alice:bob"]')?.dataset.unread === '1');
    await bob.screenshot('03-conversation-list');
    await bob.openConversation('d:alice:bob');
    await bob.waitMessage('alice', hello);
    await bob.send('Hi Alice 😀 👍🏽');
    await alice.waitMessage('bob', 'Hi Alice 😀 👍🏽');
    await bob.waitUntil('the chat with alice has no unread message', () =>
      document.querySelector('li.conversation[data-conv="d:alice:bob"]')?.dataset.unread === '0');
    await alice.screenshot('04-direct-chat');

    step('a direct chat between a browser and qim');
    await alice.click('li.friend[data-user="carol"] button.link');
    await alice.send('Carol, from the browser 🌍');
    const atCarol = await carol.line(/^msg .*from=alice/, 'alice\'s message');
    if (!atCarol.includes('text=Carol, from the browser 🌍')) throw new Error(`carol got: ${atCarol}`);
    await carol.command('send -r alice -m From the terminal ✓ 🖥️');
    await alice.waitMessage('carol', 'From the terminal ✓ 🖥️');

    step('a group of all three, made in the browser');
    await alice.click('details summary');
    await alice.type('#group-id', 'team');
    await alice.type('#group-name', 'Team 🚀');
    await alice.type('#group-members', 'bob, carol');
    await alice.click('#group-create');
    await alice.waitUntil('the group chat is open', () => document.querySelector('#chat')?.dataset.conv === 'g:team');
    await alice.send('Welcome to the team');
    await carol.line(/^msg .*conv=g:team.*from=alice/, 'alice\'s group message');
    await bob.openConversation('g:team');
    await bob.waitMessage('alice', 'Welcome to the team');
    await carol.command('send -g team -m Hello team, carol here 🎉');
    await bob.waitMessage('carol', 'Hello team, carol here 🎉');
    await alice.waitMessage('carol', 'Hello team, carol here 🎉');
    await bob.send('Bob in the group ✅');
    await alice.waitMessage('bob', 'Bob in the group ✅');
    await carol.line(/^msg .*conv=g:team.*from=bob/, 'bob\'s group message');
    await bob.screenshot('05-group-chat');

    step('an Error frame is shown as an error line');
    await alice.type('#new-chat-user', 'nobody');
    await alice.click('#new-chat-open');
    await alice.send('anyone there?');
    await alice.waitUntil('an error line says the message was not sent', () =>
      [...document.querySelectorAll('#errors .error-line')].some((l) => l.textContent.includes('message not sent')));
    await alice.screenshot('06-error-line');

    step('more than a page of group history from qim');
    const count = 60;
    for (let i = 1; i <= count; i++) await carol.command(`send -g team -m history ${i}`);
    await bob.waitMessage('carol', `history ${count}`);

    step('bob leaves the page; messages arrive meanwhile; the reload resyncs');
    await bob.page.goto('about:blank');
    await alice.click('li.conversation[data-conv="d:alice:bob"]');
    await alice.send('While you were away 🌙');
    await carol.command('send -g team -m Group news while bob was away');
    await bob.page.goto(`${n2.origin}/`, { waitUntil: 'load' });
    await bob.waitOnline();
    await bob.waitUntil('the chat with alice shows one unread message', () =>
      document.querySelector('li.conversation[data-conv="d:alice:bob"]')?.dataset.unread === '1');
    await bob.openConversation('d:alice:bob');
    await bob.waitMessage('alice', 'While you were away 🌙');
    await bob.waitMessage('alice', hello);
    await bob.openConversation('g:team');
    await bob.waitMessage('carol', 'Group news while bob was away');

    step('scrolling back through the group\'s history');
    await bob.waitUntil('older messages can be loaded', () => !!document.querySelector('#load-older'));
    for (let page = 0; page < 5; page++) {
      const atStart = await bob.page.$('#messages li.start');
      if (atStart) break;
      await bob.click('#load-older');
      await bob.waitUntil('a page of older messages or the start is shown', (before) =>
        !!document.querySelector('#messages li.start') ||
        Number(document.querySelector('#messages li.message')?.dataset.seq) < before,
        Number(await bob.page.$eval('#messages li.message', (m) => m.dataset.seq)));
    }
    await bob.waitMessage('alice', 'Welcome to the team');
    await bob.waitMessage('carol', 'history 1');
    await bob.page.$eval('#messages', (list) => (list.scrollTop = 0));
    await bob.screenshot('07-history');

    step('a phone-sized screen');
    await bob.page.setViewport({ width: 390, height: 844, deviceScaleFactor: 2 });
    await bob.screenshot('08-phone-chat');
    await bob.click('#back');
    await bob.waitUntil('the conversation list is shown', () => {
      const list = document.querySelector('#conversations');
      return !!list && list.getBoundingClientRect().width > 0;
    });
    await bob.screenshot('09-phone-list');
    await bob.page.setViewport({ width: 1100, height: 760 });

    step('a home node stops: the browsers reconnect with their tokens, resync and are redirected');
    const homeOf = async (user) => user.page.$eval('#status', (s) => s.textContent.replace('online on ', ''));
    const home = await homeOf(bob);
    const victim = cluster.nodes.find((node) => node.name === home);
    const survivor = cluster.nodes.find((node) => node.name !== home);
    // A browser comes back through the node that served its page; a page served by the node
    // about to stop moves to another node first (a new origin: signing in again).
    for (const user of [alice, bob]) {
      if (new URL(user.page.url()).port !== String(victim.wsPort)) continue;
      step(`${user.name}'s page moves from ${victim.name} to ${survivor.name}`);
      await user.page.goto(`${survivor.origin}/`, { waitUntil: 'load' });
      await user.signIn(PASSWORD);
    }
    const movers = [];
    for (const user of [alice, bob]) if ((await homeOf(user)) === victim.name) movers.push(user);
    step(`stopping ${victim.name}, the home of ${movers.map((u) => u.name).join(' and ')}`);
    await victim.stop();
    for (const user of movers) {
      await user.waitUntil('the session is back on another node', (gone) => {
        const status = document.querySelector('#status');
        return status?.dataset.state === 'online' && !status.textContent.includes(gone);
      }, victim.name, 90000);
    }
    await alice.waitOnline();
    await alice.click('li.conversation[data-conv="d:alice:bob"]');
    await alice.send(`After ${victim.name} stopped`);
    await bob.openConversation('d:alice:bob');
    await bob.waitMessage('alice', `After ${victim.name} stopped`, 60000);
    await carol.command(`send -g team -m Carol after ${victim.name} stopped`);
    await bob.openConversation('g:team');
    await bob.waitMessage('carol', `Carol after ${victim.name} stopped`, 60000);
    passed = true;
    step('passed');
  } finally {
    if (!passed && carol) console.error(`---- qim transcript ----\n${carol.transcript()}`);
    if (!passed && cluster) {
      for (const node of cluster.nodes) console.error(`---- ${node.name} log ----\n${node.logTail()}`);
    }
    await carol?.stop();
    await browser?.close();
    for (const node of cluster?.nodes ?? []) await node.stop();
    if (passed) fs.rmSync(dir, { recursive: true, force: true });
    else console.error(`cluster files kept in ${dir}`);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`FAILED: ${error.stack ?? error}`);
    process.exit(1);
  },
);
