// @ts-check
/** Translated strings rendered by the server into <script type="application/json" id="strings">. */

/** @returns {Record<string, string>} */
export function loadStrings() {
  const node = document.getElementById('strings');
  return node ? JSON.parse(node.textContent ?? '{}') : {};
}

/** @returns {string} the WebSocket URL of the live protocol on this server */
export function socketUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${window.location.host}/live/ws`;
}
