// @ts-check
/**
 * The minutes editor: autosave (one second after typing stops), a copy of unsaved edits in this
 * browser (a closed tab loses nothing), updates from other editors pushed by server-sent events,
 * and on a conflict a field-by-field merge view instead of an overwrite.
 */

import { loadStrings } from './strings.js';

const t = loadStrings();
const form = /** @type {HTMLFormElement} */ (document.getElementById('minutes-editor'));
const stateNode = document.getElementById('minutes-state');
const meetingId = form.dataset.meeting ?? '';
const csrf = form.dataset.csrf ?? '';
const base = `/meetings/${meetingId}/minutes`;
const storageKey = `diemcau:minutes:${meetingId}`;
const TEXT_FIELDS = ['kind', 'instance', 'number', 'place', 'issues', 'verification', 'account', 'evidence', 'agreed', 'outstanding', 'handling'];
const SIGNATURE_STATES = ['pending', 'signed', 'fingerprint', 'refused'];
const loadedAt = performance.now();
const elapsedAtLoad = form.dataset.elapsed === undefined ? null : Number(form.dataset.elapsed);

/** @typedef {{who: string, text: string, at: number|null}} Opinion */
/** @typedef {{who: string, role: string, state: string, reason: string}} Signature */
/** @typedef {{version: number, status: string, content: Record<string, any>, editable: boolean}} State */

/** @type {State} */
let state = JSON.parse(stateNode?.textContent ?? '{}');
let dirty = false;
/** @type {number|undefined} */
let timer;
let saving = false;
const amending = form.dataset.mode === 'amend';
const writable = state.editable || (amending && form.dataset.canAmend === 'true');

/** @param {string} key @param {Record<string, string|number>} [params] */
function say(key, params = {}) {
  return (t[key] ?? key).replace(/%\((\w+)\)s/g, (_, name) => String(params[name] ?? ''));
}

/** @param {string} text */
function status(text) {
  const node = form.querySelector('[data-save-state]');
  if (node) node.textContent = text;
  const version = document.querySelector('[data-minutes-status]');
  if (version) version.textContent = say('m_version', { n: state.version });
}

/** @param {string} tag @param {Record<string, string>} attrs @param {(Node|string)[]} [children] */
function el(tag, attrs, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** @param {number} seconds */
function clock(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** A field's name as the form shows it. @param {string} name */
function fieldLabel(name) {
  const label = form.querySelector(`label[for="m-${name}"]`)
    ?? form.querySelector(`fieldset.${name} legend`);
  return label?.textContent?.trim() ?? name;
}

/** @param {Opinion} opinion */
function opinionRow(opinion) {
  const who = /** @type {HTMLInputElement} */ (el('input', { 'data-o': 'who', maxlength: '200', 'aria-label': say('m_who'), placeholder: say('m_who') }));
  who.value = opinion.who;
  const text = /** @type {HTMLTextAreaElement} */ (el('textarea', { 'data-o': 'text', rows: '2', maxlength: '10000', 'aria-label': say('m_said'), placeholder: say('m_said') }));
  text.value = opinion.text;
  const at = /** @type {HTMLOutputElement} */ (el('output', { 'data-o': 'at' }));
  const setAt = (/** @type {number|null} */ value) => {
    at.dataset.value = value === null ? '' : String(value);
    at.textContent = value === null ? '' : say('m_at', { t: clock(value) });
  };
  setAt(opinion.at);
  const row = el('div', { class: 'opinion' }, [who, text, at]);
  if (elapsedAtLoad !== null) {
    const now = el('button', { type: 'button', title: say('m_now_title') }, [say('m_now')]);
    now.addEventListener('click', () => {
      setAt(Math.round(elapsedAtLoad + (performance.now() - loadedAt) / 1000));
      changed();
    });
    row.append(now);
  }
  const remove = el('button', { type: 'button', class: 'link' }, [say('m_remove')]);
  remove.addEventListener('click', () => { row.remove(); changed(); });
  row.append(remove);
  return row;
}

/** @param {Signature} signature */
function signatureRow(signature) {
  const who = /** @type {HTMLInputElement} */ (el('input', { 'data-s': 'who', maxlength: '200', 'aria-label': say('m_who') }));
  who.value = signature.who;
  const role = el('span', { 'data-s': 'role', 'data-value': signature.role, class: 'muted' }, [t[`label:${signature.role}`] ?? signature.role]);
  const select = /** @type {HTMLSelectElement} */ (el('select', { 'data-s': 'state', 'aria-label': signature.who }));
  for (const value of SIGNATURE_STATES) select.append(el('option', { value }, [say(`m_${value}`)]));
  select.value = signature.state;
  const reason = /** @type {HTMLInputElement} */ (el('input', { 'data-s': 'reason', maxlength: '1000', placeholder: say('m_reason'), 'aria-label': say('m_reason') }));
  reason.value = signature.reason;
  const showReason = () => { reason.hidden = select.value !== 'refused'; };
  select.addEventListener('change', showReason);
  showReason();
  return el('div', { class: 'signature' }, [who, role, select, reason]);
}

/** @param {Record<string, any>} content */
function fill(content) {
  for (const name of TEXT_FIELDS) {
    const field = /** @type {HTMLInputElement|null} */ (form.querySelector(`[data-field="${name}"]`));
    if (field) field.value = content[name] ?? '';
  }
  const copies = /** @type {HTMLInputElement} */ (form.querySelector('[data-field="copies"]'));
  copies.value = String(content.copies ?? 2);
  const opinions = /** @type {HTMLElement} */ (form.querySelector('[data-opinions]'));
  opinions.replaceChildren(...(content.opinions ?? []).map(opinionRow));
  const signatures = /** @type {HTMLElement} */ (form.querySelector('[data-signatures]'));
  signatures.replaceChildren(...(content.signatures ?? []).map(signatureRow));
  showKind();
  lock();
}

function collect() {
  /** @type {Record<string, any>} */
  const content = {};
  for (const name of TEXT_FIELDS) {
    content[name] = /** @type {HTMLInputElement} */ (form.querySelector(`[data-field="${name}"]`)).value;
  }
  content.copies = Number(/** @type {HTMLInputElement} */ (form.querySelector('[data-field="copies"]')).value) || 2;
  content.opinions = [...form.querySelectorAll('.opinion')].map((row) => {
    const at = /** @type {HTMLElement} */ (row.querySelector('[data-o="at"]')).dataset.value;
    return {
      who: /** @type {HTMLInputElement} */ (row.querySelector('[data-o="who"]')).value,
      text: /** @type {HTMLTextAreaElement} */ (row.querySelector('[data-o="text"]')).value,
      at: at ? Number(at) : null,
    };
  });
  content.signatures = [...form.querySelectorAll('.signature')].map((row) => ({
    who: /** @type {HTMLInputElement} */ (row.querySelector('[data-s="who"]')).value,
    role: /** @type {HTMLElement} */ (row.querySelector('[data-s="role"]')).dataset.value ?? '',
    state: /** @type {HTMLSelectElement} */ (row.querySelector('[data-s="state"]')).value,
    reason: /** @type {HTMLInputElement} */ (row.querySelector('[data-s="reason"]')).value,
  }));
  return content;
}

function showKind() {
  const kind = /** @type {HTMLSelectElement} */ (form.querySelector('[data-field="kind"]')).value;
  for (const block of form.querySelectorAll('[data-kind]')) {
    /** @type {HTMLElement} */ (block).hidden = /** @type {HTMLElement} */ (block).dataset.kind !== kind;
  }
}

function lock() {
  for (const field of form.querySelectorAll('input, textarea, select, button')) {
    if (field.closest('[data-conflict]')) continue;
    /** @type {HTMLInputElement} */ (field).disabled = !writable;
  }
  const reason = /** @type {HTMLElement} */ (form.querySelector('[data-amend-reason]'));
  reason.hidden = !(amending && writable);
  if (!writable) status(say('m_read_only'));
}

function changed() {
  if (!writable) return;
  dirty = true;
  localStorage.setItem(storageKey, JSON.stringify({ base: state.version, content: collect() }));
  if (amending) return; // an amendment is saved with its reason, on purpose
  window.clearTimeout(timer);
  timer = window.setTimeout(save, 1000);
}

/** @param {Record<string, any>} [content] */
async function save(content = collect()) {
  if (saving) { timer = window.setTimeout(() => save(), 500); return; }
  saving = true;
  status(say('m_saving'));
  try {
    const response = await fetch(`${base}/save`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ base_version: state.version, content }),
    });
    const data = await response.json();
    if (response.ok) {
      state = data;
      dirty = false;
      localStorage.removeItem(storageKey);
      status(say('m_saved', { n: state.version }));
    } else if (response.status === 409 && data.conflict) {
      showConflict(data.message, data.current, content);
    } else {
      status(data.error ?? Object.values(data.errors ?? {}).join(' '));
    }
  } catch {
    status(say('m_unsaved'));
    timer = window.setTimeout(() => save(), 5000);
  } finally {
    saving = false;
  }
}

/**
 * Someone saved meanwhile: each field that differs, theirs beside mine, to choose from.
 * @param {string} message @param {State} current @param {Record<string, any>} mine
 */
function showConflict(message, current, mine) {
  const box = /** @type {HTMLElement} */ (form.querySelector('[data-conflict]'));
  /** @type {HTMLElement} */ (box.querySelector('[data-conflict-message]')).textContent = message;
  const fields = /** @type {HTMLElement} */ (box.querySelector('[data-conflict-fields]'));
  fields.replaceChildren();
  const theirs = current.content;
  const started = state.content; // what this editor began from
  /** @type {Record<string, 'mine'|'theirs'>} */
  const chosen = {};
  let asked = 0;
  for (const name of [...TEXT_FIELDS, 'copies', 'opinions', 'signatures']) {
    const a = JSON.stringify(theirs[name] ?? '');
    const b = JSON.stringify(mine[name] ?? '');
    const o = JSON.stringify(started[name] ?? '');
    if (a === b) continue;
    // Changed on one side only: that side wins without asking (a three-way merge).
    if (b === o) { chosen[name] = 'theirs'; continue; }
    if (a === o) { chosen[name] = 'mine'; continue; }
    chosen[name] = 'mine';
    asked += 1;
    const show = (/** @type {any} */ v) => (typeof v === 'string' ? v : JSON.stringify(v, null, 1));
    const keep = el('label', { class: 'check' }, [el('input', { type: 'radio', name: `merge-${name}`, value: 'mine', checked: '' }), ` ${say('m_keep_mine')}`]);
    const take = el('label', { class: 'check' }, [el('input', { type: 'radio', name: `merge-${name}`, value: 'theirs' }), ` ${say('m_take_theirs')}`]);
    const row = el('div', { class: 'merge-field', 'data-merge': name }, [
      el('h3', {}, [fieldLabel(name)]),
      el('div', { class: 'merge-sides' }, [
        el('div', {}, [el('strong', {}, [say('m_theirs')]), el('pre', {}, [show(theirs[name] ?? '')])]),
        el('div', {}, [el('strong', {}, [say('m_mine')]), el('pre', {}, [show(mine[name] ?? '')])]),
      ]),
      keep, take,
    ]);
    row.addEventListener('change', (event) => {
      chosen[name] = /** @type {HTMLInputElement} */ (event.target).value === 'theirs' ? 'theirs' : 'mine';
    });
    fields.append(row);
  }
  const merge = async () => {
    const merged = { ...mine };
    for (const [name, side] of Object.entries(chosen)) if (side === 'theirs') merged[name] = theirs[name];
    state = current;
    fill(merged);
    box.hidden = true;
    await save(merged);
  };
  if (!asked) { merge(); return; } // nothing both changed: merged without a question
  box.hidden = false;
  const done = /** @type {HTMLButtonElement} */ (box.querySelector('[data-conflict-done]'));
  done.onclick = merge;
  status(message);
}

async function refresh() {
  const response = await fetch(`${base}/state`, { cache: 'no-store' });
  if (!response.ok) return;
  const fresh = /** @type {State} */ (await response.json());
  if (fresh.version === state.version) return;
  if (dirty) return; // the next save meets the conflict and shows the merge view
  state = fresh;
  fill(state.content);
  status(say('m_updated', { n: state.version }));
}

fill(state.content);
// Unsaved edits from a tab that closed: restore them (or merge, if others saved since).
const kept = localStorage.getItem(storageKey);
if (kept && writable) {
  const { base: keptBase, content } = JSON.parse(kept);
  if (keptBase === state.version) {
    fill(content);
    dirty = true;
    status(say('m_restored'));
    if (!amending) timer = window.setTimeout(() => save(), 300);
  } else {
    showConflict(say('m_restored'), state, content);
  }
}
form.addEventListener('input', changed);
form.addEventListener('change', (event) => {
  if (/** @type {HTMLElement} */ (event.target).dataset.field === 'kind') showKind();
  changed();
});
form.addEventListener('submit', (event) => event.preventDefault());
form.querySelector('[data-add-opinion]')?.addEventListener('click', () => {
  form.querySelector('[data-opinions]')?.append(opinionRow({ who: '', text: '', at: null }));
  changed();
});
form.querySelector('[data-amend]')?.addEventListener('click', async () => {
  const reason = /** @type {HTMLInputElement} */ (form.querySelector('#m-reason')).value;
  const response = await fetch(`${base}/amend`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: JSON.stringify({ content: collect(), reason }),
  });
  if (response.ok) {
    localStorage.removeItem(storageKey);
    window.location.reload();
  } else {
    const data = await response.json().catch(() => ({}));
    status(data.error ?? Object.values(data.errors ?? {}).join(' ') ?? String(response.status));
  }
});
const events = new EventSource(`${base}/events`);
events.addEventListener('version', () => { refresh(); });
window.addEventListener('beforeunload', () => events.close());
// @ts-ignore: for tests and the curious
window.diemcauMinutes = { get state() { return state; }, get dirty() { return dirty; }, save, collect };
