/** A routed page. `refresh` refetches its data and updates the DOM in place. */
export interface View {
  refresh(): Promise<void>;
  /** Called on every poll tick (2 s) whether or not the revision moved: relative times, etc. */
  tick?(): void;
  dispose(): void;
}

/** Shows or hides the page-wide error banner. */
export function showError(message: string | null): void {
  const e = document.getElementById('error');
  if (!e) return;
  if (message) {
    e.textContent = message;
    e.hidden = false;
  } else {
    e.textContent = '';
    e.hidden = true;
  }
}

export function setCrumbs(...parts: (Node | string)[]): void {
  const c = document.getElementById('crumbs');
  if (!c) return;
  c.replaceChildren(...parts);
}
