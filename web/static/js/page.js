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
