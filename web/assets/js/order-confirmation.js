import { boot, t, money, param, $ } from './app.js';
import { bookingId, loadBooking, summary } from './booking-data.js';

const POLL_MS = 1500;
const POLL_FOR_MS = 30000;

// The state the webhook made: the transaction of the PaymentIntent Stripe
// came back with (a booking paid in installments has several), else the
// newest Stripe transaction of the booking.
function latest(transactions) {
    const stripe = transactions.filter(x => x.gateway === 'stripe');
    return stripe.find(x => x.gateway_ref && x.gateway_ref === param('payment_intent'))
        || stripe.sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
}

boot(async () => {
    const id = bookingId();
    const status = $('#order-status');
    $('#order-booking').href = '/booking/' + encodeURIComponent(id);
    const started = Date.now();
    for (;;) {
        const { booking: b, transactions } = await loadBooking(id);
        $('#order-summary').replaceChildren(summary(b));
        const tx = latest(transactions);
        const state = tx ? tx.status : 'requires_payment';
        status.dataset.state = state;
        document.body.dataset.ready = 'true';     // shown; polling may go on
        if (!tx && !param('redirect_status')) {
            status.textContent = t('order.none');
            return;
        }
        if (state === 'succeeded' || state === 'partially_refunded' || state === 'refunded') {
            status.textContent = b.payment_status === 'paid' ? t('order.paid')
                : t('order.part_paid', { amount: money(tx.amount, tx.currency) });
            status.className = 'notice ok';
            return;
        }
        if (state === 'failed' || state === 'canceled'
            || (param('redirect_status') === 'failed' && state === 'requires_payment')) {
            status.textContent = t('order.failed');
            status.className = 'notice error';
            return;
        }
        // processing, or the webhook has not arrived yet: ask again briefly.
        if (Date.now() - started > POLL_FOR_MS) {
            status.textContent = t('order.processing_long');
            return;
        }
        status.textContent = t('order.processing');
        await new Promise(r => setTimeout(r, POLL_MS));
    }
});
