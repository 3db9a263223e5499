// Headless Chromium (Debian's /usr/bin/chromium) through puppeteer-core, and the page actions
// the scenario uses. Every wait is a DOM condition with a deadline.
import puppeteer from 'puppeteer-core';
import path from 'node:path';

const WAIT_MS = 30000;

export async function launchBrowser(spkiHash) {
  return puppeteer.launch({
    executablePath: process.env.QIM_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      // Trusts the test certificate's key only; every other certificate error still fails.
      `--ignore-certificate-errors-spki-list=${spkiHash}`,
      '--no-sandbox', // the test may run as root, where Chromium's sandbox refuses to start
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--lang=en-US',
    ],
  });
}

// One user's browser: a context of its own (own storage, so its own device and session).
export class User {
  constructor(name, page, artifacts) {
    this.name = name;
    this.page = page;
    this.artifacts = artifacts;
    this.consoleLines = [];
    page.on('console', (message) => this.consoleLines.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => this.consoleLines.push(`pageerror: ${error.message}`));
  }

  static async open(browser, name, url, artifacts, viewport = { width: 1100, height: 760 }) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport(viewport);
    await page.goto(url, { waitUntil: 'load' });
    return new User(name, page, artifacts);
  }

  // Waits until `fn(arg)` is truthy in the page.
  async waitUntil(what, fn, arg, timeoutMs = WAIT_MS) {
    try {
      await this.page.waitForFunction(fn, { timeout: timeoutMs, polling: 100 }, arg);
    } catch (error) {
      const shot = await this.screenshot(`failed-${this.name}`).catch(() => '(no screenshot)');
      const errors = await this.page
        .$$eval('.error-line', (lines) => lines.map((l) => l.textContent).join(' | '))
        .catch(() => '');
      const status = await this.page.$eval('#status', (s) => s.textContent).catch(() => '');
      throw new Error(
        `${this.name}: timed out waiting until ${what} (status: ${status}; errors: ${errors}; screenshot ${shot})\n` +
          `console:\n${this.consoleLines.slice(-20).join('\n')}\n${error.message}`,
      );
    }
  }

  async screenshot(name) {
    const file = path.join(this.artifacts, `${name}.png`);
    await this.page.screenshot({ path: file, fullPage: false });
    return file;
  }

  // Clicks inside the page in one step: lists are re-rendered as pushes arrive, so an element
  // handle taken earlier may be gone by the time a synthetic mouse click would reach it.
  async click(selector) {
    await this.waitUntil(`${selector} is shown`, (s) => !!document.querySelector(s), selector);
    await this.page.$eval(selector, (element) => element.click());
  }

  async type(selector, text) {
    await this.page.$eval(selector, (input) => (input.value = ''));
    await this.page.type(selector, text);
  }

  async signIn(password) {
    await this.submitLogin(password, '#login-submit');
  }

  async signUp(password) {
    await this.submitLogin(password, '#register-submit');
  }

  async submitLogin(password, button) {
    await this.waitUntil('the sign-in form is shown', () => !!document.querySelector('#login-user'));
    await this.type('#login-user', this.name);
    await this.type('#login-password', password);
    await this.click(button);
    await this.waitUntil('signed in or refused', () =>
      document.querySelector('#status')?.dataset.state === 'online' ||
      !!document.querySelector('#login-error')?.textContent);
    const refused = await this.page.$eval('#login-error', (e) => e.textContent).catch(() => '');
    if (refused) throw new Error(`${this.name}: sign-up refused: ${refused}`);
    await this.waitOnline();
  }

  async waitOnline() {
    await this.waitUntil(
      'the session is online',
      () => document.querySelector('#status')?.dataset.state === 'online',
    );
  }

  async openConversation(id) {
    await this.waitUntil(`conversation ${id} is listed`, (c) => !!document.querySelector(`li.conversation[data-conv="${c}"]`), id);
    await this.click(`li.conversation[data-conv="${id}"]`);
    await this.waitUntil(`conversation ${id} is open`, (c) => document.querySelector('#chat')?.dataset.conv === c, id);
  }

  async send(text) {
    await this.type('#composer-input', text);
    await this.click('#composer-send');
  }

  // Waits for a message with exactly this text from `sender` in the open conversation.
  async waitMessage(sender, text, timeoutMs = WAIT_MS) {
    await this.waitUntil(
      `a message from ${sender} reading '${text}' is shown`,
      ([s, t]) =>
        [...document.querySelectorAll('#messages li.message[data-sender]')].some(
          (m) => m.dataset.sender === s && m.querySelector('.text')?.textContent === t,
        ),
      [sender, text],
      timeoutMs,
    );
  }
}
