// @ts-check
/** Local devices: camera and microphone with fallbacks, device lists, level meter, speaker test. */

/**
 * @typedef {object} LocalMedia
 * @property {MediaStream|null} stream
 * @property {boolean} hasVideo
 * @property {boolean} hasAudio
 * @property {string} problem '' | 'no-camera' | 'camera-denied' | 'no-microphone' | 'no-devices'
 */

/**
 * Ask for camera and microphone; without a camera (missing or denied) fall back to audio only.
 * @param {{camera?: string, microphone?: string}} [choice]
 * @returns {Promise<LocalMedia>}
 */
export async function openDevices(choice = {}) {
  const audio = choice.microphone ? { deviceId: { exact: choice.microphone } } : true;
  const video = {
    width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 },
    ...(choice.camera ? { deviceId: { exact: choice.camera } } : {}),
  };
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: null, hasVideo: false, hasAudio: false, problem: 'no-devices' };
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    return { stream, hasVideo: true, hasAudio: true, problem: '' };
  } catch (error) {
    const denied = error instanceof DOMException && error.name === 'NotAllowedError';
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio });
      return { stream, hasVideo: false, hasAudio: true, problem: denied ? 'camera-denied' : 'no-camera' };
    } catch {
      return { stream: null, hasVideo: false, hasAudio: false, problem: 'no-devices' };
    }
  }
}

/**
 * @param {MediaDeviceKind} kind
 * @returns {Promise<MediaDeviceInfo[]>}
 */
export async function devicesOf(kind) {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
}

/**
 * Fill a <select> with devices, keeping the current choice.
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {string} fallbackLabel
 */
export function fillSelect(select, devices, fallbackLabel) {
  const current = select.value;
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement('option');
    option.value = d.deviceId;
    option.textContent = d.label || `${fallbackLabel} ${i + 1}`;
    return option;
  }));
  if (devices.some((d) => d.deviceId === current)) select.value = current;
}

/**
 * Show the microphone's level in a meter element; returns a stop function.
 * @param {MediaStream} stream
 * @param {HTMLElement} bar the element whose width shows the level
 * @returns {() => void}
 */
export function levelMeter(stream, bar) {
  if (!stream.getAudioTracks().length) return () => undefined;
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let running = true;
  const draw = () => {
    if (!running) return;
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    const level = Math.min(1, rms * 4);
    bar.style.width = `${Math.round(level * 100)}%`;
    bar.dataset.level = level.toFixed(3);
    requestAnimationFrame(draw);
  };
  draw();
  return () => {
    running = false;
    context.close().catch(() => undefined);
  };
}

/**
 * Play a short two-tone chime on the chosen output device.
 * @param {string} [sinkId]
 */
export async function speakerTest(sinkId) {
  const rate = 48000;
  const seconds = 1.2;
  const samples = Math.floor(rate * seconds);
  const buffer = new ArrayBuffer(44 + samples * 2);
  const view = new DataView(buffer);
  const text = (/** @type {number} */ offset, /** @type {string} */ s) => {
    for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i));
  };
  text(0, 'RIFF'); view.setUint32(4, 36 + samples * 2, true); text(8, 'WAVE'); text(12, 'fmt ');
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, 'data'); view.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++) {
    const t = i / rate;
    const frequency = t < seconds / 2 ? 660 : 880;
    const envelope = Math.min(1, t * 20, (seconds - t) * 20);
    view.setInt16(44 + i * 2, Math.sin(2 * Math.PI * frequency * t) * 0.4 * envelope * 32767, true);
  }
  const audio = new Audio(URL.createObjectURL(new Blob([buffer], { type: 'audio/wav' })));
  const withSink = /** @type {HTMLAudioElement & {setSinkId?: (id: string) => Promise<void>}} */ (audio);
  if (sinkId && withSink.setSinkId) await withSink.setSinkId(sinkId);
  await audio.play();
}

/** @returns {boolean} whether this browser can take part at all */
export function webrtcSupported() {
  return typeof window.RTCPeerConnection === 'function' && typeof WebSocket === 'function';
}

/**
 * Count rendered frames of a <video> element in its data-frames attribute.
 * @param {HTMLVideoElement} video
 */
export function countFrames(video) {
  const withCallback = /** @type {HTMLVideoElement & {requestVideoFrameCallback?: (cb: () => void) => number}} */ (video);
  if (!withCallback.requestVideoFrameCallback) return;
  const tick = () => {
    video.dataset.frames = String(Number(video.dataset.frames ?? '0') + 1);
    // Wall-clock time of the first rendered frame: join latency, as people experience it.
    if (!video.dataset.firstFrameAt) video.dataset.firstFrameAt = String(Date.now());
    withCallback.requestVideoFrameCallback?.(tick);
  };
  withCallback.requestVideoFrameCallback(tick);
}
