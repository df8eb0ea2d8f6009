import { api, boot, say, t, money, el, $ } from './app.js';
import { bookingId, loadBooking, amountDue } from './booking-data.js';

// Stripe.js from js_url (the real one, or the stand-in in tests), once.
function loadStripeJs(url) {
    if (window.Stripe) return Promise.resolve(window.Stripe);
    return new Promise((resolve, reject) => {
        const s = el('script', { src: url });
        s.addEventListener('load', () => resolve(window.Stripe));
        s.addEventListener('error', () => reject(new Error('Stripe.js did not load')));
        document.head.append(s);
    });
}

boot(async () => {
    const id = bookingId();
    $('#back-link').href = '/booking/' + encodeURIComponent(id);
    const { booking: b } = await loadBooking(id);
    const form = $('#pay-form');
    if (amountDue(b) <= 0) {
        $('#pay-summary').textContent = t('pay.nothing_due');
        return;
    }
    const [config, intent] = await Promise.all([
        api('GET', '/payments/config', undefined, { auth: 'none' }),
        api('POST', '/payments/intents', { booking_id: b.id }).catch(err => {
            if (err.code === 'booking_already_paid') return null;
            throw err;
        }),
    ]);
    if (!intent) {
        $('#pay-summary').textContent = t('pay.nothing_due');
        return;
    }
    if (!config.publishable_key) throw new Error('no publishable key');
    const tx = intent.transaction;
    $('#pay-summary').textContent = t('pay.summary', {
        amount: money(tx.amount, tx.currency), reference: b.reference });
    const Stripe = await loadStripeJs(config.js_url);
    const stripe = Stripe(config.publishable_key);
    const elements = stripe.elements({ clientSecret: intent.client_secret });
    elements.create('payment').mount('#payment-element');
    form.hidden = false;
    const returnUrl = `${location.origin}/order-confirmation?booking=${encodeURIComponent(b.id)}`;
    form.addEventListener('submit', async ev => {
        ev.preventDefault();
        const button = form.querySelector('button[type=submit]');
        button.disabled = true;
        say(form, t('pay.working'), 'info');
        // On success Stripe.js leaves for return_url (after 3-D Secure if
        // the bank asks for it); it only comes back here with an error.
        const { error } = await stripe.confirmPayment({
            elements, confirmParams: { return_url: returnUrl } });
        button.disabled = false;
        say(form, error ? (error.message || t('pay.failed')) : t('pay.failed'), 'error');
        form.querySelector('.form-message').focus();
    });
});
