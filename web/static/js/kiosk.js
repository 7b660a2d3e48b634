// @ts-check
/**
 * The commune kiosk: idle screen with the site's name, the clock and its next meetings; joins by
 * itself when a meeting that includes the site opens, goes back to idle afterwards, and keeps
 * trying (with back-off, for ever) through network loss and server restarts. No keyboard needed.
 */

import { LiveSession } from './protocol.js';
import { openDevices, webrtcSupported } from './media.js';
import { RoomView, el } from './room.js';
import { loadStrings, socketUrl } from './strings.js';

const t = loadStrings();
const app = /** @type {HTMLElement} */ (document.getElementById('app'));
const stateUrl = app.dataset.state ?? '';
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {LiveSession|null} */
let session = null;
/** @type {RoomView|null} */
let view = null;
/** @type {number|null} */
let activeMeeting = null;
/** @type {number|null} */
let finishedMeeting = null;
let failures = 0;
/** @type {MediaStream|null} */
let stream = null;

function tickClock() {
  const now = new Date();
  $('clock').textContent = now.toLocaleTimeString('vi-VN', { hour: '2-digit', minute: '2-digit', timeZone: 'Asia/Ho_Chi_Minh' });
  $('date').textContent = now.toLocaleDateString('vi-VN', { weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'Asia/Ho_Chi_Minh' });
}

/** @param {{title: string, starts: string, ends: string, status: string}[]} meetings */
function showMeetings(meetings) {
  const list = $('next-meetings');
  list.replaceChildren(...meetings.map((m) => el('li', {}, [
    el('span', { class: 'when', text: `${m.starts}–${m.ends}` }), el('span', { text: m.title }),
  ])));
  $('no-meetings').toggleAttribute('hidden', meetings.length > 0);
}

function showIdle() {
  app.dataset.mode = 'idle';
  $('idle').removeAttribute('hidden');
  $('room').setAttribute('hidden', '');
}

function showRoom() {
  app.dataset.mode = 'room';
  $('idle').setAttribute('hidden', '');
  $('room').removeAttribute('hidden');
}

function leaveMeeting() {
  if (session) {
    const old = session;
    session = null;
    if (!['ended', 'removed', 'refused', 'closed'].includes(old.state)) old.leave();
  }
  view?.destroy();
  view = null;
  $('kiosk-waiting').setAttribute('hidden', '');
  activeMeeting = null;
  showIdle();
}

/** @param {{meeting_id: number, title: string, token: string}} active */
async function joinMeeting(active) {
  activeMeeting = active.meeting_id;
  if (!stream) {
    const local = await openDevices();
    stream = local.stream;
    app.dataset.camera = String(local.hasVideo);
  }
  $('meeting-title').textContent = active.title;
  session = new LiveSession({ url: socketUrl(), token: active.token, maxBackoff: 30 });
  view = new RoomView($('room'), session, t, { kiosk: true });
  const current = session;
  const waitingNote = $('kiosk-waiting');
  session.addEventListener('waiting', () => waitingNote.removeAttribute('hidden'));
  session.addEventListener('admitted', () => waitingNote.setAttribute('hidden', ''));
  session.addEventListener('welcome', () => waitingNote.toggleAttribute('hidden', !current.waiting));
  session.addEventListener('state', () => {
    if (['ended', 'removed', 'refused'].includes(current.state)) {
      finishedMeeting = active.meeting_id;
      leaveMeeting();
    }
  });
  session.start(stream, !(stream?.getVideoTracks().length));
  Object.assign(window, { diemcau: { session, view } });
  showRoom();
}

async function poll() {
  let delay = 3000;
  try {
    const response = await fetch(stateUrl, { cache: 'no-store' });
    if (response.status === 403 || response.status === 404) {
      $('kiosk-error').removeAttribute('hidden');
      delay = 60000;
    } else if (!response.ok) {
      throw new Error(String(response.status));
    } else {
      const state = await response.json();
      failures = 0;
      $('offline').setAttribute('hidden', '');
      $('site-name').textContent = state.site.name;
      showMeetings(state.meetings);
      const notice = $('kiosk-notice');
      notice.textContent = state.notices[0] ?? '';
      notice.toggleAttribute('hidden', !state.notices.length);
      const active = state.active;
      if (active && active.meeting_id !== activeMeeting && active.meeting_id !== finishedMeeting) {
        leaveMeeting();
        await joinMeeting(active);
      } else if (!active && activeMeeting !== null) {
        leaveMeeting();
      }
      if (!active) finishedMeeting = null;
      delay = activeMeeting ? 10000 : 3000;
    }
  } catch {
    failures += 1;
    $('offline').removeAttribute('hidden');
    delay = Math.min(30000, 1000 * 2 ** Math.min(failures, 5));
  }
  window.setTimeout(poll, delay);
}

if (!webrtcSupported()) {
  window.location.replace('/unsupported');
} else {
  tickClock();
  window.setInterval(tickClock, 1000);
  document.addEventListener('click', () => {
    document.documentElement.requestFullscreen?.().catch(() => undefined);
  }, { once: true });
  poll();
}
