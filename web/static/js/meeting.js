// @ts-check
/** The meeting page: the pre-join check, then the room. */

import { LiveSession, testCall } from './protocol.js';
import { devicesOf, fillSelect, levelMeter, openDevices, speakerTest, webrtcSupported } from './media.js';
import { RoomView } from './room.js';
import { loadStrings, socketUrl } from './strings.js';

const t = loadStrings();
const app = /** @type {HTMLElement} */ (document.getElementById('app'));
const token = app.dataset.token ?? '';
const recordingRequired = app.dataset.recording === 'true';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

if (!webrtcSupported()) {
  window.location.replace('/unsupported');
}

/** @type {import('./media.js').LocalMedia} */
let local = { stream: null, hasVideo: false, hasAudio: false, problem: 'no-devices' };
/** @type {() => void} */
let stopMeter = () => undefined;

async function refreshDevices() {
  fillSelect(/** @type {HTMLSelectElement} */ ($('camera')), await devicesOf('videoinput'), t.camera);
  fillSelect(/** @type {HTMLSelectElement} */ ($('microphone')), await devicesOf('audioinput'), t.microphone);
  fillSelect(/** @type {HTMLSelectElement} */ ($('speaker')), await devicesOf('audiooutput'), t.speaker);
}

async function openLocal() {
  stopMeter();
  for (const track of local.stream?.getTracks() ?? []) track.stop();
  local = await openDevices({
    camera: /** @type {HTMLSelectElement} */ ($('camera')).value || undefined,
    microphone: /** @type {HTMLSelectElement} */ ($('microphone')).value || undefined,
  });
  const preview = /** @type {HTMLVideoElement} */ ($('preview'));
  preview.srcObject = local.stream;
  const notice = $('device-notice');
  notice.textContent = local.problem ? t[`problem_${local.problem.replace('-', '_')}`] : '';
  notice.toggleAttribute('hidden', !local.problem);
  app.dataset.camera = String(local.hasVideo);
  if (local.stream) stopMeter = levelMeter(local.stream, $('level'));
  await refreshDevices();
}

$('camera').addEventListener('change', () => { openLocal().catch(() => undefined); });
$('microphone').addEventListener('change', () => { openLocal().catch(() => undefined); });
$('speaker-test').addEventListener('click', () => {
  speakerTest(/** @type {HTMLSelectElement} */ ($('speaker')).value || undefined).catch(() => undefined);
});
$('test-call').addEventListener('click', async () => {
  const output = $('verdict');
  if (!local.stream) {
    output.textContent = t.problem_no_devices;
    return;
  }
  output.textContent = t.testing;
  output.dataset.verdict = '';
  try {
    const result = await testCall(local.stream, token);
    const rtt = result.rttMs === null ? '–' : `${Math.round(result.rttMs)} ms`;
    const loss = result.lossPercent === null ? '–' : `${result.lossPercent.toFixed(1)} %`;
    output.textContent = `${t[`verdict_${result.verdict}`]} — ${t.rtt}: ${rtt}, ${t.loss}: ${loss}, ${t.bitrate}: ${Math.round(result.kbps)} kbps`;
    output.dataset.verdict = result.verdict;
  } catch {
    output.textContent = t.test_failed;
    output.dataset.verdict = 'error';
  }
});

const ack = /** @type {HTMLInputElement|null} */ (document.getElementById('recording-ack'));
const joinButton = /** @type {HTMLButtonElement} */ ($('join'));
const updateJoin = () => { joinButton.disabled = recordingRequired && !(ack?.checked); };
ack?.addEventListener('change', updateJoin);
updateJoin();

joinButton.addEventListener('click', () => {
  app.dataset.joinClickedAt = String(Date.now());
  stopMeter();
  $('prejoin').setAttribute('hidden', '');
  const roomSection = $('room');
  roomSection.removeAttribute('hidden');
  const session = new LiveSession({ url: socketUrl(), token, recordingAck: Boolean(ack?.checked) });
  const view = new RoomView(roomSection, session, t);
  session.addEventListener('waiting', () => $('waiting-screen').removeAttribute('hidden'));
  session.addEventListener('admitted', () => $('waiting-screen').setAttribute('hidden', ''));
  session.addEventListener('state', () => {
    const ended = ['ended', 'removed', 'refused', 'closed'].includes(session.state);
    if (!ended) return;
    view.destroy();
    for (const track of local.stream?.getTracks() ?? []) track.stop();
    const screen = $('ended-screen');
    screen.querySelector('[data-reason]')?.replaceChildren(t[`ended_${session.state}`] ?? '');
    screen.removeAttribute('hidden');
    roomSection.setAttribute('hidden', '');
  });
  session.start(local.stream, !local.hasVideo);
  Object.assign(window, { diemcau: { session, view } });
});

openLocal().catch(() => undefined);
