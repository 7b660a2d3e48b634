// @ts-check
/**
 * The commune kiosk: idle screen with the site's name, the clock and its next meetings; joins by
 * itself when a meeting that includes the site opens, goes back to idle afterwards, and keeps
 * trying (with back-off, for ever) through network loss and server restarts. No keyboard needed.
 *
 * It holds one WebSocket to the server (docs/protocol.md, *Kiosk channel*): the server pushes
 * its state whenever something about this endpoint changes, and the kiosk sends a heartbeat
 * with its browser, devices and link quality, and runs a readiness test call when staff ask.
 */

import { LiveSession, testCall } from './protocol.js';
import { openDevices, webrtcSupported } from './media.js';
import { RoomView, el } from './room.js';
import { loadStrings, socketUrl } from './strings.js';

const t = loadStrings();
const app = /** @type {HTMLElement} */ (document.getElementById('app'));
const device = app.dataset.device ?? '';
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

/** @type {WebSocket|null} */
let channel = null;
/** @type {number|null} */
let heartbeatTimer = null;
let heartbeatSeq = 0;
let stopped = false;
/** @type {{rtt_ms: number|null, loss_percent: number|null, kbps: number|null}} */
let lastLink = { rtt_ms: null, loss_percent: null, kbps: null };

/** @param {{site: {name: string}, meetings: any[], notices: string[], active: any}} state */
async function applyState(state) {
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
}

function browserOf() {
  const ua = navigator.userAgent;
  const found = ua.match(/(Chromium|Chrome|Firefox|Edg)\/([\d.]+)/);
  return found ? { browser: found[1] === 'Edg' ? 'Edge' : found[1], browser_version: found[2].slice(0, 32) } : { browser: 'other', browser_version: '' };
}

/** @param {'videoinput'|'audioinput'} kind @param {'camera'|'microphone'} permission */
async function deviceState(kind, permission) {
  const tracks = stream ? (kind === 'videoinput' ? stream.getVideoTracks() : stream.getAudioTracks()) : [];
  if (tracks.some((track) => track.readyState === 'live')) return 'on';
  try {
    const status = await navigator.permissions.query(/** @type {any} */ ({ name: permission }));
    if (status.state === 'denied') return 'denied';
  } catch { /* not every browser can ask */ }
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  return devices.some((d) => d.kind === kind) ? 'off' : 'missing';
}

/** The link as the browser measures it: the meeting's connection while in one. */
async function linkFigures() {
  const pc = session?.publishPc;
  if (!pc) return lastLink;
  /** @type {number|null} */ let rtt = null;
  /** @type {number|null} */ let loss = null;
  /** @type {number|null} */ let kbps = null;
  (await pc.getStats()).forEach((stat) => {
    if (stat.type === 'candidate-pair' && stat.nominated && stat.currentRoundTripTime !== undefined) rtt = stat.currentRoundTripTime * 1000;
    if (stat.type === 'remote-inbound-rtp' && stat.kind === 'video' && stat.fractionLost !== undefined) loss = stat.fractionLost * 100;
    if (stat.type === 'candidate-pair' && stat.nominated && stat.availableOutgoingBitrate !== undefined) kbps = stat.availableOutgoingBitrate / 1000;
  });
  return { rtt_ms: rtt, loss_percent: loss, kbps };
}

async function report() {
  return {
    ...browserOf(),
    camera: await deviceState('videoinput', 'camera'),
    microphone: await deviceState('audioinput', 'microphone'),
    meeting_id: activeMeeting,
    ...(await linkFigures()),
  };
}

/** @param {object} message */
function send(message) {
  if (channel && channel.readyState === WebSocket.OPEN) channel.send(JSON.stringify(message));
}

/** @param {number} seconds */
function startHeartbeat(seconds) {
  if (heartbeatTimer !== null) window.clearInterval(heartbeatTimer);
  const beat = async () => send({ type: 'heartbeat', seq: ++heartbeatSeq, report: await report() });
  beat();
  heartbeatTimer = window.setInterval(beat, Math.max(200, seconds * 1000));
}

/** A readiness test call for staff: in a meeting, the meeting's own figures. @param {number} checkId */
async function runCheck(checkId) {
  /** @type {Record<string, unknown>} */
  let result;
  try {
    if (session) {
      result = { ...(await linkFigures()) };
      result.camera = await deviceState('videoinput', 'camera');
      result.microphone = await deviceState('audioinput', 'microphone');
    } else {
      const local = await openDevices();
      const tracks = local.stream;
      if (!tracks) throw new Error('no-devices');
      try {
        const figures = await testCall(tracks, { device });
        lastLink = { rtt_ms: figures.rttMs, loss_percent: figures.lossPercent, kbps: figures.kbps };
        // The devices as the test call had them, before they are let go.
        const live = (/** @type {MediaStreamTrack[]} */ list) => list.some((track) => track.readyState === 'live');
        result = {
          ...lastLink,
          camera: live(tracks.getVideoTracks()) ? 'on' : await deviceState('videoinput', 'camera'),
          microphone: live(tracks.getAudioTracks()) ? 'on' : await deviceState('audioinput', 'microphone'),
        };
      } finally {
        if (tracks !== stream) tracks.getTracks().forEach((track) => track.stop());
      }
    }
  } catch (error) {
    // A problem code the server shows in words (see PROBLEM_LABELS), or the browser's own.
    const text = String(error instanceof Error ? error.message : error);
    result = { problem: (text.startsWith('probe refused') ? 'probe-refused' : text).slice(0, 200) };
  }
  send({ type: 'check_result', check: checkId, result });
}

function connect() {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${window.location.host}/live/kiosk/${device}`);
  channel = ws;
  ws.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === 'state') {
      failures = 0;
      $('offline').setAttribute('hidden', '');
      if (heartbeatTimer === null) startHeartbeat(message.heartbeat);
      await applyState(message);
    } else if (message.type === 'check') {
      runCheck(message.check);
    } else if (message.type === 'revoked' || message.type === 'replaced') {
      stopped = true;
      $('kiosk-error').removeAttribute('hidden');
    }
  };
  ws.onclose = (event) => {
    if (heartbeatTimer !== null) window.clearInterval(heartbeatTimer);
    heartbeatTimer = null;
    channel = null;
    if (stopped || event.code === 4401 || event.code === 4409) {
      $('kiosk-error').removeAttribute('hidden');
      return;
    }
    failures += 1;
    $('offline').removeAttribute('hidden');
    // Back off, with some jitter so 65 kiosks do not all come back in the same instant.
    const delay = Math.min(30000, 500 * 2 ** Math.min(failures, 6)) * (0.75 + Math.random() / 2);
    window.setTimeout(connect, delay);
  };
}

if (!webrtcSupported()) {
  window.location.replace('/unsupported');
} else {
  tickClock();
  window.setInterval(tickClock, 1000);
  document.addEventListener('click', () => {
    document.documentElement.requestFullscreen?.().catch(() => undefined);
  }, { once: true });
  connect();
}
