// @ts-check
/**
 * The live-session protocol for browsers (docs/protocol.md): a WebSocket, a publish and a
 * subscribe peer connection, reconnection with back-off. Transport only: no DOM. The UI listens
 * to the events of a LiveSession and calls its methods.
 */

export const PROTOCOL_VERSION = 1;
/** Reconnection attempts made at most 2 s apart before the wait grows (see scheduleReconnect). */
const FAST_ATTEMPTS = 10;

/**
 * @typedef {object} Participant
 * @property {string} id
 * @property {string} name
 * @property {string} role
 * @property {string} role_label
 * @property {number|null} site_id
 * @property {'waiting'|'present'|'reconnecting'} state
 * @property {boolean} audio_muted
 * @property {boolean} video_muted
 * @property {boolean} audio_only
 * @property {boolean} hand_raised
 * @property {boolean} muted_by_chair
 * @property {boolean} has_floor
 */

/**
 * @typedef {object} TrackInfo
 * @property {string} mid
 * @property {'audio'|'video'} kind
 * @property {string} participant_id
 */

/**
 * @typedef {object} ServerError
 * @property {string} id
 * @property {string} message
 * @property {string|null} ref
 */

/**
 * @typedef {'idle'|'connecting'|'live'|'reconnecting'|'ended'|'removed'|'refused'|'closed'} SessionState
 */

/**
 * @typedef {object} SessionOptions
 * @property {string} url WebSocket URL of /live/ws
 * @property {string} token signed join token
 * @property {boolean} [recordingAck] the person read the recording notice
 * @property {number} [maxBackoff] seconds between reconnection attempts, at most
 */

/** Errors after which reconnecting cannot help. */
const FINAL_ERRORS = new Set([
  'unsupported_version', 'token_malformed', 'token_signature', 'token_expired',
  'meeting_not_open', 'removed',
]);

export class LiveSession extends EventTarget {
  /** @param {SessionOptions} options */
  constructor(options) {
    super();
    this.options = options;
    /** @type {SessionState} */
    this.state = 'idle';
    /** @type {Map<string, Participant>} */
    this.participants = new Map();
    /** @type {Map<string, Participant>} */
    this.waitingList = new Map();
    this.participantId = '';
    this.role = '';
    this.waiting = false;
    this.recording = false;
    /** why recording is off: '' (not started), 'paused' or 'storage_error' */
    this.recordingDetail = '';
    this.activeSpeaker = /** @type {string|null} */ (null);
    this.floor = /** @type {string|null} */ (null);
    this.videoKbps = 0;
    this.audioKbps = 0;
    /** participants whose video this link does not carry for now (the server says so) */
    this.videoPaused = /** @type {Set<string>} */ (new Set());
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {RTCPeerConnection|null} */
    this.publishPc = null;
    /** @type {RTCPeerConnection|null} */
    this.subscribePc = null;
    this.subscribeSession = '';
    /** @type {Map<string, TrackInfo>} mid → what it carries now */
    this.tracks = new Map();
    /** @type {MediaStream|null} */
    this.stream = null;
    this.audioOnly = false;
    this.attempt = 0;
    /** @type {number|undefined} */
    this.retryTimer = undefined;
    /** @type {Promise<void>} */
    this.subscribeQueue = Promise.resolve();
  }

  /**
   * Join with a local stream (null to only watch and listen).
   * @param {MediaStream|null} stream
   * @param {boolean} [audioOnly]
   */
  start(stream, audioOnly = false) {
    this.stream = stream;
    this.audioOnly = audioOnly;
    this.connect();
  }

  /** @param {SessionState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', { state });
  }

  /**
   * @param {string} type
   * @param {object} [detail]
   */
  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const ws = new WebSocket(this.options.url);
    this.ws = ws;
    ws.onopen = () => {
      this.send({
        type: 'hello', version: PROTOCOL_VERSION, token: this.options.token,
        recording_ack: Boolean(this.options.recordingAck),
      });
    };
    ws.onmessage = (event) => {
      /** @type {any} */
      let message;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      this.handle(message).catch((error) => this.emit('failure', { error }));
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (['ended', 'removed', 'refused', 'closed'].includes(this.state)) return;
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    this.setState('reconnecting');
    this.attempt += 1;
    const ceiling = (this.options.maxBackoff ?? 15) * 1000;
    // A server restarting is back within seconds: the first ten attempts (about 20 s) come at
    // most 2 s apart, so media is back within a few seconds of it being ready; then the wait
    // grows to the ceiling. Jitter spreads the endpoints of a province over each wait.
    const base = this.attempt <= FAST_ATTEMPTS
      ? Math.min(2000, 500 * 2 ** this.attempt)
      : Math.min(ceiling, 2000 * 2 ** Math.min(this.attempt - FAST_ATTEMPTS, 4));
    const delay = base * (0.75 + Math.random() / 2);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  /** @param {object} message */
  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  /** @param {any} message */
  async handle(message) {
    switch (message.type) {
      case 'welcome':
        this.attempt = 0;
        this.participantId = message.participant_id;
        this.role = message.role;
        this.waiting = message.waiting;
        this.recording = message.recording;
        this.recordingDetail = message.recording_detail ?? '';
        this.iceServers = message.ice_servers;
        this.videoKbps = message.video_kbps;
        this.audioKbps = message.audio_kbps;
        this.participants = new Map(message.participants.map((/** @type {Participant} */ p) => [p.id, p]));
        this.setState('live');
        this.emit('welcome', { resumed: message.resumed, waiting: message.waiting });
        this.emit('participants');
        if (!message.waiting) await this.publish();
        break;
      case 'waiting':
        this.waiting = true;
        this.emit('waiting');
        break;
      case 'admitted':
        this.waiting = false;
        this.emit('admitted');
        break;
      case 'publish_answer':
        if (this.publishPc) {
          await this.publishPc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
          await this.applyBitrate();
        }
        break;
      case 'subscribe_offer':
        this.subscribeQueue = this.subscribeQueue.then(() => this.answerSubscribe(message));
        await this.subscribeQueue;
        break;
      case 'participant_joined':
      case 'participant_updated':
        this.participants.set(message.participant.id, message.participant);
        this.emit('participants', { changed: message.participant.id });
        break;
      case 'participant_left':
        this.participants.delete(message.participant_id);
        this.videoPaused.delete(message.participant_id);
        this.emit('participants', { left: message.participant_id, reason: message.reason });
        break;
      case 'waiting_list':
        this.waitingList = new Map(message.participants.map((/** @type {Participant} */ p) => [p.id, p]));
        this.emit('waitinglist');
        break;
      case 'active_speaker':
        this.activeSpeaker = message.participant_id;
        this.emit('speaker', { participantId: message.participant_id });
        break;
      case 'floor':
        this.floor = message.participant_id;
        this.emit('floor', { participantId: message.participant_id });
        break;
      case 'muted_by_chair':
        this.setLocalAudio(false);
        this.emit('mutedbychair');
        break;
      case 'video_link':
        if (message.paused) this.videoPaused.add(message.participant_id);
        else this.videoPaused.delete(message.participant_id);
        this.emit('participants', { changed: message.participant_id });
        break;
      case 'bitrate':
        this.videoKbps = message.video_kbps;
        this.audioKbps = message.audio_kbps;
        await this.applyBitrate();
        break;
      case 'recording':
        this.recording = message.active;
        this.recordingDetail = message.detail;
        this.emit('recording', { active: message.active, detail: message.detail });
        break;
      case 'removed':
        this.setState('removed');
        this.teardown();
        break;
      case 'meeting_ended':
        this.setState('ended');
        this.teardown();
        break;
      case 'error':
        this.emit('servererror', /** @type {ServerError} */ (message));
        if (FINAL_ERRORS.has(message.id)) {
          if (message.id !== 'removed') this.setState('refused');
          this.teardown();
        }
        break;
      default:
        break;
    }
  }

  /** @returns {RTCConfiguration} */
  configuration() {
    return { iceServers: this.iceServers, bundlePolicy: 'max-bundle' };
  }

  async publish() {
    this.publishPc?.close();
    const pc = new RTCPeerConnection(this.configuration());
    this.publishPc = pc;
    const stream = this.stream;
    if (stream) {
      for (const track of stream.getAudioTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (!this.audioOnly) {
        for (const track of stream.getVideoTracks()) {
          // Three temporal layers: the server gives each subscriber those its own link carries.
          /** @type {RTCRtpEncodingParameters & { scalabilityMode?: string }} */
          const layered = { scalabilityMode: 'L1T3' };
          const transceiver = pc.addTransceiver(track, {
            direction: 'sendonly', streams: [stream], sendEncodings: [layered],
          });
          preferVp8(transceiver);
        }
      }
    }
    pc.onicecandidate = (event) => this.sendCandidate('publish', event.candidate);
    pc.onconnectionstatechange = () => {
      if (pc === this.publishPc && pc.connectionState === 'failed') this.restartIce();
    };
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: 'publish_offer', sdp: pc.localDescription?.sdp ?? '', audio_only: this.audioOnly || !stream?.getVideoTracks().length });
  }

  /**
   * @param {'publish'|'subscribe'} which
   * @param {RTCIceCandidate|null} candidate
   */
  sendCandidate(which, candidate) {
    this.send({
      type: 'candidate', pc: which,
      candidate: candidate ? candidate.candidate : null,
      sdp_mid: candidate ? candidate.sdpMid : null,
      sdp_mline_index: candidate ? candidate.sdpMLineIndex : null,
    });
  }

  restartIce() {
    this.send({ type: 'ice_restart' });
    this.subscribePc?.close();
    this.subscribePc = null;
    this.subscribeSession = '';
    this.publish().catch((error) => this.emit('failure', { error }));
  }

  async applyBitrate() {
    const pc = this.publishPc;
    if (!pc) return;
    for (const sender of pc.getSenders()) {
      if (!sender.track) continue;
      const kbps = sender.track.kind === 'video' ? this.videoKbps : this.audioKbps;
      if (!kbps) continue;
      const parameters = sender.getParameters();
      if (!parameters.encodings || !parameters.encodings.length) continue;
      parameters.encodings[0].maxBitrate = kbps * 1000;
      try {
        await sender.setParameters(parameters);
      } catch {
        // Not every browser allows this before negotiation ends; the server's REMB still caps.
      }
    }
  }

  /** @param {{sdp: string, revision: number, tracks: TrackInfo[], session: string}} offer */
  async answerSubscribe(offer) {
    if (offer.session !== this.subscribeSession) {
      this.subscribePc?.close();
      this.subscribePc = null;
      this.subscribeSession = offer.session;
    }
    if (!this.subscribePc) {
      const pc = new RTCPeerConnection(this.configuration());
      pc.onicecandidate = (event) => this.sendCandidate('subscribe', event.candidate);
      pc.ontrack = (event) => {
        const mid = event.transceiver.mid ?? '';
        this.emit('track', { mid, track: event.track, info: this.tracks.get(mid) ?? null });
      };
      pc.onconnectionstatechange = () => {
        if (pc === this.subscribePc && pc.connectionState === 'failed') this.restartIce();
      };
      this.subscribePc = pc;
    }
    const pc = this.subscribePc;
    this.tracks = new Map(offer.tracks.map((t) => [t.mid, t]));
    await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: 'subscribe_answer', sdp: pc.localDescription?.sdp ?? '', revision: offer.revision, session: offer.session });
    this.emit('tracks', { tracks: [...this.tracks.values()], receivers: this.receivers() });
  }

  /** @returns {{mid: string, track: MediaStreamTrack, info: TrackInfo|null}[]} */
  receivers() {
    if (!this.subscribePc) return [];
    return this.subscribePc.getTransceivers().map((t) => ({
      mid: t.mid ?? '', track: t.receiver.track, info: this.tracks.get(t.mid ?? '') ?? null,
    }));
  }

  /**
   * Replace what this participant sends (camera switched, camera lost, audio-only toggled).
   * @param {MediaStream|null} stream
   * @param {boolean} audioOnly
   */
  async setStream(stream, audioOnly) {
    this.stream = stream;
    this.audioOnly = audioOnly;
    if (this.state === 'live' && !this.waiting) await this.publish();
  }

  /** @param {boolean} enabled */
  setLocalAudio(enabled) {
    for (const track of this.stream?.getAudioTracks() ?? []) track.enabled = enabled;
  }

  /**
   * @param {boolean} audioMuted
   * @param {boolean} videoMuted
   */
  mute(audioMuted, videoMuted) {
    const me = this.participants.get(this.participantId);
    if (!audioMuted && me?.muted_by_chair) {
      this.emit('servererror', { id: 'muted_by_chair', message: '', ref: 'mute' });
      return;
    }
    this.setLocalAudio(!audioMuted);
    for (const track of this.stream?.getVideoTracks() ?? []) track.enabled = !videoMuted;
    this.send({ type: 'mute', audio: audioMuted, video: videoMuted });
  }

  /** @param {boolean} raised */
  raiseHand(raised) { this.send({ type: 'raise_hand', raised }); }

  /** @param {string|null} participantId */
  admit(participantId) {
    this.send(participantId ? { type: 'admit', participant_id: participantId } : { type: 'admit', all: true });
  }

  /** @param {string} participantId */
  sendBack(participantId) { this.send({ type: 'send_back', participant_id: participantId }); }

  /** @param {string} participantId */
  muteParticipant(participantId) { this.send({ type: 'mute_participant', participant_id: participantId }); }

  /** @param {string} participantId */
  remove(participantId) { this.send({ type: 'remove', participant_id: participantId }); }

  /** @param {string|null} participantId */
  giveFloor(participantId) { this.send({ type: 'give_floor', participant_id: participantId }); }

  endMeeting() { this.send({ type: 'end_meeting' }); }

  /** Chair: start or pause the recording (where the meeting's policy lets the chair). @param {'start'|'stop'} action */
  recordingControl(action) { this.send({ type: 'recording_control', action }); }

  leave() {
    this.send({ type: 'leave' });
    this.setState('closed');
    this.teardown();
  }

  teardown() {
    clearTimeout(this.retryTimer);
    this.publishPc?.close();
    this.subscribePc?.close();
    this.publishPc = null;
    this.subscribePc = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  /**
   * Receive-side statistics per participant, for connection-quality indicators.
   * @returns {Promise<Map<string, {fps: number, lossPercent: number, jitterMs: number, packets: number}>>}
   */
  async inboundQuality() {
    /** @type {Map<string, {fps: number, lossPercent: number, jitterMs: number, packets: number}>} */
    const out = new Map();
    const pc = this.subscribePc;
    if (!pc) return out;
    const report = await pc.getStats();
    report.forEach((stat) => {
      if (stat.type !== 'inbound-rtp') return;
      const info = this.tracks.get(stat.mid ?? '');
      if (!info) return;
      const entry = out.get(info.participant_id) ?? { fps: 0, lossPercent: 0, jitterMs: 0, packets: 0 };
      const lost = stat.packetsLost ?? 0;
      const received = stat.packetsReceived ?? 0;
      const loss = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
      entry.lossPercent = Math.max(entry.lossPercent, loss);
      entry.jitterMs = Math.max(entry.jitterMs, (stat.jitter ?? 0) * 1000);
      entry.packets += received;
      if (stat.kind === 'video') entry.fps = stat.framesPerSecond ?? 0;
      out.set(info.participant_id, entry);
    });
    return out;
  }
}

/** @param {RTCRtpTransceiver} transceiver */
function preferVp8(transceiver) {
  const capabilities = RTCRtpSender.getCapabilities?.('video');
  if (!capabilities || !transceiver.setCodecPreferences) return;
  const vp8 = capabilities.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/vp8');
  const rest = capabilities.codecs.filter((c) => c.mimeType.toLowerCase() !== 'video/vp8');
  if (vp8.length) transceiver.setCodecPreferences([...vp8, ...rest]);
}

/**
 * A short test call: publish for a few seconds to the server's probe and judge the link.
 * @param {MediaStream} stream
 * @param {string|{device: string}} ticket a join token, or a kiosk's device link
 * @param {number} [seconds]
 * @returns {Promise<{rttMs: number|null, lossPercent: number|null, kbps: number, verdict: 'good'|'fair'|'poor'}>}
 */
export async function testCall(stream, ticket, seconds = 5) {
  const byDevice = typeof ticket !== 'string';
  const proof = byDevice ? { device: ticket.device } : { token: ticket };
  /** @type {Record<string, string>} */
  const ending = byDevice ? { 'X-Device': ticket.device } : { 'X-Join-Token': ticket };
  const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') resolve(null);
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(null); };
    setTimeout(resolve, 2000);
  });
  const response = await fetch('/live/probe', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...proof, sdp: pc.localDescription?.sdp ?? '' }),
  });
  if (!response.ok) throw new Error(`probe refused: ${response.status}`);
  const answer = await response.json();
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  const first = await sentBytes(pc);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const report = await pc.getStats();
  const elapsed = (performance.now() - started) / 1000;
  const kbps = ((await sentBytes(pc)) - first) * 8 / 1000 / elapsed;
  /** @type {number|null} */ let rttMs = null;
  /** @type {number|null} */ let lossPercent = null;
  report.forEach((stat) => {
    if (stat.type === 'candidate-pair' && stat.nominated && stat.currentRoundTripTime !== undefined) {
      rttMs = stat.currentRoundTripTime * 1000;
    }
    if (stat.type === 'remote-inbound-rtp' && stat.kind === 'video' && stat.fractionLost !== undefined) {
      lossPercent = stat.fractionLost * 100;
    }
  });
  pc.close();
  fetch(`/live/probe/${answer.id}`, { method: 'DELETE', headers: ending }).catch(() => undefined);
  return { rttMs, lossPercent, kbps, verdict: judge(rttMs, lossPercent, kbps) };
}

/** @param {RTCPeerConnection} pc */
async function sentBytes(pc) {
  let total = 0;
  (await pc.getStats()).forEach((stat) => { if (stat.type === 'outbound-rtp') total += stat.bytesSent ?? 0; });
  return total;
}

/**
 * Plain thresholds: a dialogue needs to be continuous in sound and image.
 * @param {number|null} rttMs
 * @param {number|null} lossPercent
 * @param {number} kbps
 * @returns {'good'|'fair'|'poor'}
 */
export function judge(rttMs, lossPercent, kbps) {
  const rtt = rttMs ?? 1000;
  const loss = lossPercent ?? 0;
  if (rtt <= 150 && loss <= 2 && kbps >= 250) return 'good';
  if (rtt <= 400 && loss <= 5 && kbps >= 100) return 'fair';
  return 'poor';
}
