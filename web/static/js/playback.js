// @ts-check
/**
 * Plays every participant's recording in step: one clock for the meeting, each file starting at
 * its own offset. Moments (joins, drops, chair actions) jump all players at once.
 */

const player = document.getElementById('player');
const videos = /** @type {HTMLVideoElement[]} */ ([...document.querySelectorAll('#player video')]);
const play = /** @type {HTMLButtonElement|null} */ (document.querySelector('[data-play]'));
const seek = /** @type {HTMLInputElement|null} */ (document.querySelector('[data-seek]'));
const clock = /** @type {HTMLOutputElement|null} */ (document.querySelector('[data-clock]'));
let position = 0;
let playing = false;
let last = performance.now();

/** @param {HTMLVideoElement} video */
const offsetOf = (video) => Number(video.dataset.offset ?? '0');
const total = () => Math.max(0, ...videos.map((v) => offsetOf(v) + (Number.isFinite(v.duration) ? v.duration : 0)));

/** @param {number} seconds */
function format(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** @param {boolean} hard re-seek every player even when it is close */
function align(hard) {
  for (const video of videos) {
    const local = position - offsetOf(video);
    const inside = local >= 0 && (!Number.isFinite(video.duration) || local < video.duration);
    if (!inside) {
      if (!video.paused) video.pause();
      continue;
    }
    if (hard || Math.abs(video.currentTime - local) > 0.3) video.currentTime = local;
    if (playing && video.paused) video.play().catch(() => undefined);
    if (!playing && !video.paused) video.pause();
  }
}

/** A participant's files share one tile: show the one playing now (or the last one started). */
function showCurrentParts() {
  for (const tile of document.querySelectorAll('#player [data-tile]')) {
    const parts = /** @type {HTMLVideoElement[]} */ ([...tile.querySelectorAll('video')]);
    if (parts.length < 2) continue;
    const started = parts.filter((v) => offsetOf(v) <= position);
    const current = started.length ? started[started.length - 1] : parts[0];
    for (const video of parts) video.hidden = video !== current;
  }
}

function tick() {
  const now = performance.now();
  if (playing) {
    position = Math.min(total(), position + (now - last) / 1000);
    if (position >= total()) playing = false;
  }
  last = now;
  if (seek) {
    seek.max = String(total() || 1);
    seek.value = String(position);
  }
  if (clock) clock.textContent = `${format(position)} / ${format(total())}`;
  align(false);
  showCurrentParts();
  requestAnimationFrame(tick);
}

if (player && videos.length) {
  play?.addEventListener('click', () => {
    playing = !playing;
    if (play) play.textContent = playing ? '❚❚' : '▶';
    align(true);
  });
  seek?.addEventListener('input', () => { position = Number(seek.value); align(true); });
  for (const button of document.querySelectorAll('[data-jump]')) {
    button.addEventListener('click', () => {
      position = Number(/** @type {HTMLElement} */ (button).dataset.jump ?? '0');
      align(true);
    });
  }
  requestAnimationFrame(tick);
}

// A combined file in the making: refresh its progress.
const progress = /** @type {HTMLElement|null} */ (document.querySelector('[data-progress]'));
if (progress) {
  const url = `${window.location.pathname}/status`;
  const poll = async () => {
    const response = await fetch(url, { cache: 'no-store' });
    if (response.ok) {
      const data = await response.json();
      const busy = data.recordings.find((/** @type {{status: string}} */ r) => r.status === 'processing');
      if (!busy) { window.location.reload(); return; }
      progress.textContent = String(busy.progress);
    }
    window.setTimeout(poll, 2000);
  };
  window.setTimeout(poll, 2000);
}
