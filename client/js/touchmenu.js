// A message's actions (Edit, Delete, React, Quote) on a touch screen, where
// nothing hovers: hidden until the message is tapped (or long-pressed), so
// that the list is not a column of buttons; hidden again by a tap elsewhere,
// a second tap on it, or Esc. Keyboard focus inside a message shows them
// anywhere (chat.css :focus-within); with a mouse, hover does and nothing
// here applies.

const noHover = window.matchMedia('(hover: none)');

// The parts of a message that are controls of their own: a tap there is theirs.
const OWN_TAP = 'a, button, textarea, input, .msg-editor, .msg-confirm, .msg-error, .react-picker, .msg-reactions';

let open = null; // the message whose actions are shown

function hide() {
  if (!open) return;
  open.classList.remove('actions-open');
  open = null;
}

function show(msg) {
  if (open === msg) return;
  hide();
  if (!msg.querySelector(':scope > .msg-actions')) return;
  msg.classList.add('actions-open');
  open = msg;
}

// The message a tap or long-press on the list is about, or null.
function tappedMessage(ev) {
  if (!noHover.matches || !(ev.target instanceof Element)) return null;
  const msg = ev.target.closest('.message');
  return msg && !ev.target.closest(OWN_TAP) ? msg : null;
}

export function wireTouchMenu(list) {
  list.addEventListener('click', (ev) => {
    const msg = tappedMessage(ev);
    if (!msg) return;
    if (open === msg) hide(); else show(msg);
  });
  list.addEventListener('contextmenu', (ev) => { // a long-press; the browser's own menu still opens
    const msg = tappedMessage(ev);
    if (msg) show(msg);
  });
  // A tap anywhere else (another message included: its own handler then
  // opens it) hides them; captured, so that nothing stops it on the way.
  document.addEventListener('click', (ev) => {
    if (open && !(ev.target instanceof Node && open.contains(ev.target))) hide();
  }, true);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') hide();
  });
}
