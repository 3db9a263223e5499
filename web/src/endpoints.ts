// Where the browser connects: the node that served the page, and the nodes Redirect names.
// Both use the page's scheme: wss:// for a page served over https, ws:// on loopback.

export function scheme(pageProtocol: string): 'wss:' | 'ws:' {
  return pageProtocol === 'https:' ? 'wss:' : 'ws:';
}

// The WebSocket of the node that served the page (it redirects to the user's home).
export function originUrl(location: { protocol: string; host: string }): string {
  return `${scheme(location.protocol)}//${location.host}/ws`;
}

// The WebSocket of the node a Redirect names; null when it did not say its WebSocket port.
export function redirectUrl(pageProtocol: string, host: string, wsPort: number): string | null {
  if (wsPort === 0 || host === '') return null;
  const literal = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${scheme(pageProtocol)}//${literal}:${wsPort}/ws`;
}

// The WebSocket of a node HelloOk lists ("host:port", IPv6 in brackets).
export function nodeUrl(pageProtocol: string, address: string): string {
  return `${scheme(pageProtocol)}//${address}/ws`;
}

// Where reconnect attempt `attempt` goes: the home first, then the page's node, then every
// other node the cluster named, in turn, so that a browser whose home and page node are both
// down still finds a live node (which redirects it home once the home has moved).
export function reconnectUrl(attempt: number, home: string | null, origin: string, known: readonly string[]): string {
  const candidates: string[] = [];
  for (const url of [home, origin, ...known]) {
    if (url !== null && !candidates.includes(url)) candidates.push(url);
  }
  return candidates[attempt % candidates.length];
}
