// A small element builder: text goes in as text nodes (never parsed as HTML), so names and
// messages from the wire cannot inject markup.
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((event: Event) => void) | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (name === 'class') element.className = String(value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function replaceChildren(parent: Element, children: Child[]): void {
  parent.replaceChildren(...children.filter((c): c is Node | string => !!c));
}

export function input(id: string, placeholder: string, type = 'text'): HTMLInputElement {
  return h('input', { id, placeholder, type, autocomplete: 'off', 'aria-label': placeholder }) as HTMLInputElement;
}
