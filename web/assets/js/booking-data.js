// What the booking, pay and order-confirmation pages share.
import { api, el, money, date, t } from './app.js';

export function bookingId() {
    const m = location.pathname.match(/^\/booking\/([^/]+)/);
    return m ? decodeURIComponent(m[1]) : new URLSearchParams(location.search).get('booking');
}

export function loadBooking(id) {
    return api('GET', '/customers/me/bookings/' + encodeURIComponent(id || ''));
}

export function isCanceled(b) {
    return b.status === 'canceled' || b.status === 'cancelled';
}

// What is still to pay: the earliest open installment when the booking
// has a schedule, else the balance.
export function amountDue(b) {
    if (isCanceled(b)) return 0;
    if (Array.isArray(b.schedule) && b.schedule.length) {
        const open = b.schedule.filter(i => i.status === 'pending' || i.status === 'failed');
        return open.length ? open[0].amount : 0;
    }
    return Math.max(0, b.amount_total - b.amount_paid);
}

export function summary(b) {
    const row = (key, value) => [el('dt', { text: t(key) }), el('dd', { text: value })];
    return el('dl', { class: 'summary' },
        ...row('booking.reference', b.reference),
        ...row('booking.description', b.description),
        ...row('booking.dates', `${date(b.travel_start)} – ${date(b.travel_end)}`),
        ...row('booking.total', money(b.amount_total, b.currency)),
        ...row('booking.paid', money(b.amount_paid, b.currency)),
        ...(b.amount_refunded ? row('booking.refunded', money(b.amount_refunded, b.currency)) : []),
        ...row('booking.status', t('payment_status.' + b.payment_status)));
}

export function table(node, head, rows) {
    node.replaceChildren(
        el('thead', {}, el('tr', {}, ...head.map(h => el('th', { scope: 'col', text: t(h) })))),
        el('tbody', {}, ...rows.map(r => el('tr', {}, ...r.map(c => el('td', { text: c }))))));
}
