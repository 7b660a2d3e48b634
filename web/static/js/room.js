// @ts-check
/** The meeting room: video grid, controls, chair's panel. A thin UI over LiveSession. */

import { countFrames } from './media.js';

/**
 * @typedef {import('./protocol.js').LiveSession} LiveSession
 * @typedef {import('./protocol.js').Participant} Participant
 * @typedef {Record<string, string>} Strings
 */

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node|string)[]} [children]
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export class RoomView {
  /**
   * @param {HTMLElement} root the #room section
   * @param {LiveSession} session
   * @param {Strings} t translated strings
   * @param {{kiosk?: boolean}} [options]
   */
  constructor(root, session, t, options = {}) {
    this.root = root;
    this.session = session;
    this.t = t;
    this.kiosk = Boolean(options.kiosk);
    this.grid = /** @type {HTMLElement} */ (root.querySelector('[data-grid]'));
    /** @type {Map<string, HTMLElement>} */
    this.tiles = new Map();
    /** @type {Map<string, HTMLAudioElement>} */
    this.audios = new Map();
    /** @type {Map<string, {video: MediaStreamTrack|null, audio: MediaStreamTrack|null}>} */
    this.mediaOf = new Map();
    this.audioMuted = false;
    this.videoMuted = false;
    this.handRaised = false;
    this.qualityTimer = window.setInterval(() => this.updateQuality(), 2000);
    this.bind();
  }

  bind() {
    const s = this.session;
    s.addEventListener('participants', () => this.render());
    s.addEventListener('tracks', () => this.attachReceivers());
    s.addEventListener('track', () => this.attachReceivers());
    s.addEventListener('speaker', () => this.render());
    s.addEventListener('floor', () => this.render());
    s.addEventListener('waitinglist', () => this.renderWaitingList());
    s.addEventListener('state', () => this.renderState());
    s.addEventListener('welcome', () => { this.render(); this.renderState(); });
    s.addEventListener('recording', () => this.renderState());
    s.addEventListener('mutedbychair', () => {
      this.audioMuted = true;
      this.notify(this.t.muted_by_chair);
      this.renderControls();
    });
    s.addEventListener('servererror', (event) => {
      const detail = /** @type {CustomEvent} */ (event).detail;
      this.notify(this.t[`error:${detail.id}`] ?? detail.message ?? detail.id);
    });
    for (const button of this.root.querySelectorAll('[data-action]')) {
      button.addEventListener('click', () => this.act(/** @type {HTMLElement} */ (button).dataset.action ?? ''));
    }
  }

  /** @param {string} action */
  act(action) {
    const s = this.session;
    switch (action) {
      case 'mic':
        this.audioMuted = !this.audioMuted;
        s.mute(this.audioMuted, this.videoMuted);
        break;
      case 'camera':
        this.videoMuted = !this.videoMuted;
        s.mute(this.audioMuted, this.videoMuted);
        break;
      case 'audio-only':
        s.setStream(s.stream, !s.audioOnly).catch(() => undefined);
        break;
      case 'hand':
        this.handRaised = !this.handRaised;
        s.raiseHand(this.handRaised);
        break;
      case 'leave':
        s.leave();
        break;
      case 'end':
        if (window.confirm(this.t.confirm_end)) s.endMeeting();
        break;
      case 'recording':
        s.recordingControl(s.recording ? 'stop' : 'start');
        break;
      case 'admit-all':
        s.admit(null);
        break;
      default:
        break;
    }
    this.renderControls();
  }

  /**
   * A participant's role as this page's language says it: the server's labels are msgids.
   * @param {string} label
   */
  roleLabel(label) {
    return this.t[`label:${label}`] ?? label;
  }

  /** @param {string} text */
  notify(text) {
    const box = this.root.querySelector('[data-notice]');
    if (!box) return;
    box.textContent = text;
    box.removeAttribute('hidden');
    window.setTimeout(() => box.setAttribute('hidden', ''), 6000);
  }

  /** @param {Participant} p */
  tileFor(p) {
    let tile = this.tiles.get(p.id);
    if (!tile) {
      const video = /** @type {HTMLVideoElement} */ (el('video', { autoplay: '', playsinline: '' }));
      video.muted = true; // sound plays through the participant's <audio> element
      countFrames(video);
      tile = el('figure', { class: 'tile', 'data-participant': p.id }, [
        video,
        el('figcaption', {}, [
          el('span', { class: 'name' }), el('span', { class: 'role' }),
          el('span', { class: 'badges' }), el('span', { class: 'quality', 'data-quality': '' }),
        ]),
      ]);
      if (!this.kiosk && this.session.role === 'chair' && p.id !== this.session.participantId) {
        tile.append(this.chairActions(p.id));
      }
      this.tiles.set(p.id, tile);
      this.grid.append(tile);
    }
    return tile;
  }

  /** @param {string} participantId */
  chairActions(participantId) {
    const box = el('div', { class: 'chair-actions' });
    /** @type {[string, () => void][]} */
    const actions = [
      [this.t.mute, () => this.session.muteParticipant(participantId)],
      [this.t.give_floor, () => this.session.giveFloor(participantId)],
      [this.t.send_back, () => this.session.sendBack(participantId)],
      [this.t.remove, () => { if (window.confirm(this.t.confirm_remove)) this.session.remove(participantId); }],
    ];
    for (const [label, run] of actions) {
      const button = el('button', { type: 'button', text: label, 'data-chair': label });
      button.addEventListener('click', run);
      box.append(button);
    }
    return box;
  }

  render() {
    const s = this.session;
    const present = [...s.participants.values()].filter((p) => p.state !== 'waiting');
    for (const [id, tile] of this.tiles) {
      if (!s.participants.has(id)) {
        tile.remove();
        this.tiles.delete(id);
        this.audios.get(id)?.remove();
        this.audios.delete(id);
      }
    }
    for (const p of present) {
      const tile = this.tileFor(p);
      const self = p.id === s.participantId;
      tile.classList.toggle('self', self);
      tile.classList.toggle('speaking', s.activeSpeaker === p.id);
      tile.classList.toggle('floor', s.floor === p.id);
      tile.classList.toggle('reconnecting', p.state === 'reconnecting');
      tile.classList.toggle('video-paused', s.videoPaused.has(p.id));
      /** @type {HTMLElement} */ (tile.querySelector('.name')).textContent = self ? `${p.name} (${this.t.you})` : p.name;
      /** @type {HTMLElement} */ (tile.querySelector('.role')).textContent = this.roleLabel(p.role_label);
      const badges = [];
      if (p.muted_by_chair) badges.push(this.t.badge_muted_by_chair);
      else if (p.audio_muted) badges.push(this.t.badge_muted);
      if (p.video_muted || p.audio_only) badges.push(this.t.badge_no_video);
      else if (s.videoPaused.has(p.id)) badges.push(this.t.badge_weak_link);
      if (p.hand_raised) badges.push(this.t.badge_hand);
      if (s.floor === p.id) badges.push(this.t.badge_floor);
      if (p.state === 'reconnecting') badges.push(this.t.badge_reconnecting);
      /** @type {HTMLElement} */ (tile.querySelector('.badges')).textContent = badges.join(' · ');
      tile.dataset.mutedByChair = String(p.muted_by_chair);
      if (self) this.showSelf(tile);
    }
    this.grid.dataset.count = String(present.length);
    this.attachReceivers();
    this.renderControls();
  }

  /** @param {HTMLElement} tile */
  showSelf(tile) {
    const video = /** @type {HTMLVideoElement} */ (tile.querySelector('video'));
    const stream = this.session.stream;
    if (stream && video.srcObject !== stream) video.srcObject = stream;
  }

  attachReceivers() {
    /** @type {Map<string, {video: MediaStreamTrack|null, audio: MediaStreamTrack|null}>} */
    const wanted = new Map();
    for (const { track, info } of this.session.receivers()) {
      if (!info) continue;
      const entry = wanted.get(info.participant_id) ?? { video: null, audio: null };
      entry[info.kind] = track;
      wanted.set(info.participant_id, entry);
    }
    for (const [participantId, media] of wanted) {
      const participant = this.session.participants.get(participantId);
      if (!participant) continue;
      const tile = this.tileFor(participant);
      const video = /** @type {HTMLVideoElement} */ (tile.querySelector('video'));
      const current = this.mediaOf.get(participantId);
      if (media.video && current?.video !== media.video) {
        video.srcObject = new MediaStream([media.video]);
      }
      if (media.audio && current?.audio !== media.audio) {
        let audio = this.audios.get(participantId);
        if (!audio) {
          audio = /** @type {HTMLAudioElement} */ (el('audio', { autoplay: '' }));
          audio.dataset.participant = participantId;
          this.root.append(audio);
          this.audios.set(participantId, audio);
        }
        audio.srcObject = new MediaStream([media.audio]);
      }
      this.mediaOf.set(participantId, media);
    }
  }

  renderControls() {
    const s = this.session;
    const me = s.participants.get(s.participantId);
    const muted = this.audioMuted || Boolean(me?.muted_by_chair);
    this.setPressed('mic', muted, muted ? this.t.unmute_mic : this.t.mute_mic);
    this.setPressed('camera', this.videoMuted, this.videoMuted ? this.t.camera_on : this.t.camera_off);
    this.setPressed('audio-only', s.audioOnly, s.audioOnly ? this.t.video_on : this.t.audio_only);
    this.setPressed('hand', this.handRaised, this.handRaised ? this.t.lower_hand : this.t.raise_hand);
    // After a pause the button resumes the recording; before any start it starts it.
    const recordingLabel = s.recording
      ? this.t.recording_pause
      : s.recordingDetail === 'paused' ? this.t.recording_resume : this.t.recording_start;
    this.setPressed('recording', s.recording, recordingLabel);
    for (const node of this.root.querySelectorAll('[data-chair-only]')) {
      node.toggleAttribute('hidden', s.role !== 'chair');
    }
    for (const node of this.root.querySelectorAll('[data-admitter-only]')) {
      node.toggleAttribute('hidden', !['chair', 'officer'].includes(s.role));
    }
  }

  /**
   * @param {string} action
   * @param {boolean} pressed
   * @param {string} label
   */
  setPressed(action, pressed, label) {
    const button = this.root.querySelector(`[data-action="${action}"]`);
    if (!button) return;
    button.setAttribute('aria-pressed', String(pressed));
    button.textContent = label;
  }

  renderWaitingList() {
    const list = this.root.querySelector('[data-waiting-list]');
    if (!list) return;
    const items = [...this.session.waitingList.values()].map((p) => {
      const admit = el('button', { type: 'button', text: this.t.admit });
      admit.addEventListener('click', () => this.session.admit(p.id));
      return el('li', {}, [el('span', { text: `${p.name} — ${this.roleLabel(p.role_label)}` }), admit]);
    });
    list.replaceChildren(...items);
    const box = this.root.querySelector('[data-waiting-box]');
    box?.toggleAttribute('hidden', items.length === 0 || !['chair', 'officer'].includes(this.session.role));
  }

  renderState() {
    const s = this.session;
    this.root.querySelector('[data-banner="reconnecting"]')?.toggleAttribute('hidden', s.state !== 'reconnecting');
    const indicator = this.root.querySelector('[data-recording]');
    if (indicator) {
      const paused = !s.recording && s.recordingDetail === 'paused';
      indicator.toggleAttribute('hidden', !s.recording && !paused);
      indicator.textContent = paused ? this.t.recording_paused : `● ${this.t.recording}`;
      indicator.classList.toggle('paused', paused);
    }
    this.root.querySelector('[data-recording-problem]')
      ?.toggleAttribute('hidden', s.recording || s.recordingDetail !== 'storage_error');
    this.renderControls();
    this.root.dataset.state = s.state;
  }

  async updateQuality() {
    if (this.session.state !== 'live') return;
    const quality = await this.session.inboundQuality();
    for (const [participantId, q] of quality) {
      const label = this.tiles.get(participantId)?.querySelector('[data-quality]');
      if (!label) continue;
      const level = q.lossPercent > 5 || (q.fps > 0 && q.fps < 10) ? 'poor'
        : q.lossPercent > 2 || (q.fps > 0 && q.fps < 20) ? 'fair' : 'good';
      label.textContent = this.t[`quality_${level}`];
      label.setAttribute('data-quality', level);
      label.setAttribute('title', `${q.fps.toFixed(0)} fps · ${q.lossPercent.toFixed(1)} %`);
    }
  }

  destroy() {
    clearInterval(this.qualityTimer);
    for (const tile of this.tiles.values()) tile.remove();
    for (const audio of this.audios.values()) audio.remove();
    this.tiles.clear();
    this.audios.clear();
    this.mediaOf.clear();
  }
}
