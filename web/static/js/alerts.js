// @ts-check
/**
 * Staff pages: poll for urgent calls (a crowd at the central office) and alert with sound until
 * a leader accepts. Sound needs one click on the page first in most browsers; the banner does not.
 */

const banner = /** @type {HTMLElement|null} */ (document.getElementById('urgent-banner'));
/** @type {AudioContext|null} */
let audio = null;
let beeping = false;

document.addEventListener('click', () => {
  audio ??= new AudioContext();
  audio.resume().catch(() => undefined);
}, { once: true });

function beep() {
  if (!audio || audio.state !== 'running') return;
  for (const [offset, frequency] of [[0, 880], [0.25, 660], [0.5, 880]]) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.value = 0.2;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(audio.currentTime + offset);
    oscillator.stop(audio.currentTime + offset + 0.18);
  }
}

/** @param {{id: number, text: string, accept_url: string}[]} calls */
function show(calls) {
  if (!banner) return;
  const list = /** @type {HTMLElement} */ (banner.querySelector('[data-calls]'));
  const token = banner.dataset.csrf ?? '';
  list.replaceChildren(...calls.map((call) => {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = call.accept_url;
    const csrf = document.createElement('input');
    csrf.type = 'hidden';
    csrf.name = 'csrf_token';
    csrf.value = token;
    const text = document.createElement('span');
    text.textContent = call.text;
    const button = document.createElement('button');
    button.className = 'danger';
    button.textContent = banner.dataset.accept ?? 'OK';
    form.append(csrf, text, button);
    return form;
  }));
  banner.toggleAttribute('hidden', calls.length === 0);
  beeping = calls.length > 0;
}

async function poll() {
  try {
    const response = await fetch('/alerts', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (response.ok) {
      const data = await response.json();
      show(data.urgent);
      const badge = document.getElementById('unread-count');
      if (badge) badge.textContent = data.unread ? String(data.unread) : '';
    }
  } catch {
    // offline for a moment: the next poll tries again
  }
  window.setTimeout(poll, 5000);
}

if (banner) {
  window.setInterval(() => { if (beeping) beep(); }, 2000);
  poll();
}
