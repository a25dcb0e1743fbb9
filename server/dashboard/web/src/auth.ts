// Sign-in for servers run with --auth: the token lives in a same-site cookie, which fetch and the
// CSV download link both send (no token in URLs, where logs would keep it).

const COOKIE = 'hpo_token';

export function hasToken(): boolean {
  return document.cookie.split(';').some((c) => c.trim().startsWith(COOKIE + '='));
}

function setToken(token: string | null): void {
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = token
    ? `${COOKIE}=${encodeURIComponent(token)}; path=/; SameSite=Strict${secure}`
    : `${COOKIE}=; path=/; max-age=0; SameSite=Strict${secure}`;
}

/** Shows the token form (once) below the error banner; `onSignIn` runs after a token is set. */
export function showSignIn(onSignIn: () => void): void {
  if (document.getElementById('signin')) return;
  const form = document.createElement('form');
  form.id = 'signin';
  form.className = 'signin';
  form.dataset.testid = 'signin';
  const label = document.createElement('label');
  label.textContent = 'API token (hpo-cli token-create NAME --role read_only): ';
  const input = document.createElement('input');
  input.type = 'password';
  input.autocomplete = 'off';
  input.placeholder = 'hpo_...';
  input.dataset.testid = 'signin-token';
  label.append(input);
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = 'Sign in';
  form.append(label, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    setToken(input.value.trim());
    form.remove();
    onSignIn();
  });
  const anchor = document.getElementById('error');
  (anchor?.parentElement ?? document.body).insertBefore(form, anchor?.nextSibling ?? null);
}

/** Forgets a token the server refused. */
export function clearToken(): void {
  setToken(null);
}
