// @ts-check
/**
 * Every staff page: forms that ask before a step that cannot be undone (`data-confirm`), and
 * buttons that copy a join link (`data-copy`: the id of the field holding it).
 */

document.addEventListener('submit', (event) => {
  const form = /** @type {HTMLFormElement} */ (event.target);
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener('click', async (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest('button[data-copy]');
  if (!(button instanceof HTMLButtonElement)) return;
  const field = /** @type {HTMLInputElement|null} */ (
    document.getElementById(button.dataset.copy ?? '')
  );
  if (!field) return;
  const done = button.dataset.done ?? '';
  const label = button.textContent ?? '';
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // No clipboard permission (plain http on a LAN): select the text for Ctrl+C instead.
    field.select();
    document.execCommand('copy');
  }
  button.textContent = done;
  setTimeout(() => {
    button.textContent = label;
  }, 2000);
});

/**
 * Endpoint pickers: a search box filters the checklist by name, ignoring case and diacritics
 * ("bac" finds "Bắc Sơn", "dong" finds "Đồng Đăng"); the legend counts what is chosen.
 * @param {string} text
 */
const fold = (text) => text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd').toLowerCase();

for (const picker of document.querySelectorAll('[data-picker]')) {
  const search = /** @type {HTMLInputElement|null} */ (picker.querySelector('[data-picker-search]'));
  const count = picker.querySelector('[data-picker-count]');
  const entries = /** @type {HTMLElement[]} */ ([...picker.querySelectorAll('label[data-name]')]);
  const update = () => {
    const chosen = entries.filter((e) => /** @type {HTMLInputElement} */ (e.querySelector('input')).checked).length;
    if (count) count.textContent = chosen ? `(${chosen})` : '';
  };
  if (search) {
    search.hidden = false;
    search.addEventListener('input', () => {
      const wanted = fold(search.value.trim());
      for (const entry of entries) {
        const checked = /** @type {HTMLInputElement} */ (entry.querySelector('input')).checked;
        entry.hidden = Boolean(wanted) && !checked && !fold(entry.dataset.name ?? '').includes(wanted);
      }
      for (const section of picker.querySelectorAll('[data-picker-section]')) {
        /** @type {HTMLElement} */ (section).hidden = !section.querySelector('label[data-name]:not([hidden])');
      }
    });
  }
  picker.addEventListener('change', update);
  update();
}

for (const button of document.querySelectorAll('[data-print]')) {
  button.addEventListener('click', () => window.print());
}

/**
 * An endpoint operator's page says, every heartbeat, that its endpoint is staffed (the endpoint
 * board shows it online with this browser), as a kiosk does on its own channel.
 */
const presence = Number(document.body.dataset.presence ?? 0);
if (presence > 0) {
  const found = navigator.userAgent.match(/(Chromium|Chrome|Firefox|Edg)\/([\d.]+)/);
  const report = found
    ? { browser: found[1] === 'Edg' ? 'Edge' : found[1], browser_version: found[2].slice(0, 32) }
    : { browser: 'other', browser_version: '' };
  const beat = () => fetch('/presence', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': document.body.dataset.csrf ?? '' },
    body: JSON.stringify(report),
  }).catch(() => undefined);
  beat();
  window.setInterval(beat, presence * 1000);
}
