import { api, boot, onSubmit, say, t, el, money, date, $ } from './app.js';
import { bookingId, loadBooking, amountDue, isCanceled, summary, table } from './booking-data.js';

async function cancellation(b) {
    const box = $('#cancellation');
    const url = `/customers/me/bookings/${encodeURIComponent(b.id)}`;
    const form = $('#cancel-form');
    let preview;
    // Asks for the preview and shows it; false when there is none to act on.
    async function show() {
        preview = await api('GET', url + '/cancellation');
        box.hidden = false;
        form.hidden = !preview.cancellable;
        $('#cancel-preview').textContent = preview.cancellable
            ? t('cancel.preview', { refund: money(preview.refund_amount, preview.currency),
                                    fee: money(preview.fee || 0, preview.currency) })
            : preview.reason || t('cancel.not_possible');
        return preview.cancellable;
    }
    try {
        if (!await show()) return;
    } catch (err) {
        if (err.status === 404) return;   // not on this server yet
        throw err;
    }
    onSubmit(form, async data => {
        if (!data.sure) {
            say(form, t('cancel.tick'), 'error');
            return;
        }
        try {
            await api('POST', url + '/cancel', { expected_refund_amount: preview.refund_amount });
        } catch (err) {
            if (err.code !== 'policy_changed') throw err;
            // The refund moved since the preview (a payment arrived, a
            // day passed): show the new one and let the person decide again.
            await show();
            form.elements.sure.checked = false;
            say(form, t('error.policy_changed'), 'error');
            form.querySelector('.form-message').focus();
            return;
        }
        location.reload();
    });
}

boot(async () => {
    const { booking: b, transactions } = await loadBooking(bookingId());
    $('#booking-title').textContent = `${t('booking.title')} ${b.reference}`;
    $('#booking-summary').replaceChildren(summary(b));
    if (isCanceled(b)) {
        $('#booking-summary').append(el('p', { class: 'notice', text: t('booking.canceled') }));
    }
    const due = amountDue(b);
    if (due > 0) {
        $('#pay-link').href = `/booking/${encodeURIComponent(b.id)}/pay`;
        $('#pay-link').textContent = t('booking.pay_amount', { amount: money(due, b.currency) });
        $('#booking-pay').hidden = false;
    }
    if (Array.isArray(b.schedule) && b.schedule.length) {
        $('#schedule').hidden = false;
        table($('#schedule-table'), ['schedule.kind', 'schedule.due', 'schedule.amount', 'schedule.status'],
              b.schedule.map(i => [t('schedule.' + i.kind), date(i.due_date),
                                   money(i.amount, b.currency), t('installment.' + i.status)]));
    }
    table($('#tx-table'), ['tx.date', 'tx.method', 'tx.amount', 'tx.status'],
          transactions.length ? transactions.map(x => [
              date(x.created_at), t('gateway.' + x.gateway), money(x.amount, x.currency),
              t('tx_status.' + x.status) + (x.failure_reason ? ` (${x.failure_reason})` : '')])
              : [[t('tx.none'), '', '', '']]);
    await cancellation(b);
});
