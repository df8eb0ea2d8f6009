import { api, boot, say, t, money, date, el, errorText, ApiError, $ } from './app.js';
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

// The installment after the one being paid, when the card may be kept
// for it (the balance after a deposit): save_payment_method.
function laterInstallment(b) {
    const open = (b.schedule || []).filter(i => i.status === 'pending' || i.status === 'failed');
    return open.length > 1 ? open[1] : null;
}

function openIntent(b, save) {
    return api('POST', '/payments/intents', save ? { booking_id: b.id, save_payment_method: true }
                                                 : { booking_id: b.id }).catch(err => {
        if (err.code === 'booking_already_paid') return null;
        throw err;
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
        openIntent(b, false),
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
    let elements;
    const mount = secret => {
        elements = stripe.elements({ clientSecret: secret });
        elements.create('payment').mount('#payment-element');
    };
    mount(intent.client_secret);
    const button = form.querySelector('button[type=submit]');
    const later = laterInstallment(b);
    if (later) {
        // Saving is a different PaymentIntent (setup_future_usage): the
        // server replaces the open one, and the element is mounted again.
        $('#save-card-label').textContent = t('pay.save_card', {
            amount: money(later.amount, b.currency), date: date(later.due_date) });
        $('#save-card-box').hidden = false;
        let asked = 0;
        $('#save_card').addEventListener('change', async ev => {
            const mine = ++asked;
            button.disabled = true;
            try {
                const again = await openIntent(b, ev.target.checked);
                if (mine !== asked) return;     // a newer choice is on its way
                if (again) mount(again.client_secret);
                button.disabled = false;
            } catch (err) {
                if (mine !== asked) return;
                if (!(err instanceof ApiError)) throw err;
                ev.target.checked = !ev.target.checked;     // as the mounted intent is
                button.disabled = false;
                say(form, errorText(err), 'error');
            }
        });
    }
    form.hidden = false;
    const returnUrl = `${location.origin}/order-confirmation?booking=${encodeURIComponent(b.id)}`;
    form.addEventListener('submit', async ev => {
        ev.preventDefault();
        if (button.disabled) return;
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
