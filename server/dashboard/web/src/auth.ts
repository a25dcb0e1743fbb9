// Sign-in for servers run with --auth: the server keeps the token in an HttpOnly, same-site
// cookie (POST /api/v1/session), which fetch and the CSV download link both send. No script can
// read it, and no token goes into URLs, where logs would keep it.

const SESSION = '/api/v1/session';

async function signIn(token: string): Promise<string | null> {
  try {
    const resp = await fetch(SESSION, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
    if (resp.ok) return null;
    const body = await resp.json().catch(() => null);
    return body?.error?.message ?? `sign-in refused (HTTP ${resp.status})`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
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
  const problem = document.createElement('span');
  problem.dataset.testid = 'signin-error';
  form.append(problem);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    void signIn(token).then((error) => {
      if (error !== null) {
        problem.textContent = ` ${error}`;
        return;
      }
      form.remove();
      onSignIn();
    });
  });
  const anchor = document.getElementById('error');
  (anchor?.parentElement ?? document.body).insertBefore(form, anchor?.nextSibling ?? null);
}

/** Forgets a token the server refused. */
export function clearToken(): void {
  void fetch(SESSION, { method: 'DELETE', cache: 'no-store' }).catch(() => undefined);
}
