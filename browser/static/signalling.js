// The signalling client both ends use (docs/protocol.md): one WebSocket to /ws, a `join`
// with the page's role on open (the socket is authenticated by the sign-in cookie, so no
// token is held here), JSON messages dispatched by `type` to a table of handlers, and a
// new socket after each close, after a delay the page chooses (unless the sign-in ended).

/** Close codes meaning the page's sign-in ended: 4002 signed out, 4003 revoked. */
const SIGN_IN_ENDED = new Set([4002, 4003]);

export class SignallingClient {
  /**
   * @param {object} options
   * @param {string} options.role the role joined as (`Role.KIOSK` or `Role.AGENT`)
   * @param {object} options.handlers message type -> function(message), maybe async
   * @param {function(number): number} options.retryDelay ms before the next try, given
   *   how many tries since the last `joined`
   * @param {function(): void} [options.onConnecting] a new socket is being opened
   * @param {function(): void} [options.onClose] the current socket closed
   */
  constructor({ role, handlers, retryDelay, onConnecting, onClose }) {
    this.role = role;
    this.handlers = handlers;
    this.retryDelay = retryDelay;
    this.onConnecting = onConnecting || (() => {});
    this.onClose = onClose || (() => {});
    this.socket = null;
    this.joined = false;
    this.attempts = 0; // closes since the last `joined`: how long the page has been cut off
    // The STUN/TURN servers (TURN with this socket's own credentials) and the transport
    // policy of the last `joined`, for the page's peer connections (see webrtc.js).
    this.ice = { iceServers: [] };
  }

  /** Open the socket (and, after each close, open it again). */
  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this.socket = socket;
    this.joined = false;
    this.onConnecting();
    socket.addEventListener("open", () => this.send({ type: "join", role: this.role }));
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      this.dispatch(message);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return; // an old socket
      this.socket = null;
      this.joined = false;
      if (SIGN_IN_ENDED.has(event.code)) {
        // Signed out or revoked (docs/protocol.md): retrying cannot help. Reloading lets
        // the server show the sign-in or enrolment page instead of "reconnecting" forever.
        location.reload();
        return;
      }
      this.onClose();
      const delay = this.retryDelay(this.attempts);
      this.attempts += 1;
      setTimeout(() => this.connect(), delay);
    });
  }

  dispatch(message) {
    const handler = this.handlers[message.type];
    if (message.type === "joined") {
      this.joined = true;
      this.ice = {
        iceServers: message.ice_servers || [],
        iceTransportPolicy: message.ice_transport_policy || "all",
      };
    }
    // A call's `matched` brings fresh TURN credentials (those of `joined` may have expired).
    if (message.type === "matched" && message.ice_servers && message.ice_servers.length) {
      this.ice = { ...this.ice, iceServers: message.ice_servers };
    }
    if (handler) {
      try {
        Promise.resolve(handler(message)).catch((err) => console.error("handling", message.type, err));
      } catch (err) {
        console.error("handling", message.type, err);
      }
    }
    if (message.type === "joined") this.attempts = 0;
  }

  /** Send a message; false when the socket is not open (nothing is queued). */
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Cut the socket at once, as a network drop does; the client reconnects. */
  drop() {
    if (this.socket) this.socket.close();
  }
}
