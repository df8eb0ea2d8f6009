import { api, boot, onSubmit, say, t, el, money, date, token, errorText, ApiError,
         $ } from './app.js';

// A section whose endpoint this server does not have yet (404) says so
// instead of breaking the page.
async function optional(box, load) {
    try {
        await load();
    } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        box.replaceChildren(el(box.tagName === 'UL' ? 'li' : 'p', { class: 'notice', text:
            err.status === 404 ? t('common.unavailable') : errorText(err) }));
    }
}

function fill(form, obj) {
    for (const field of form.elements) {
        if (!field.name || !(field.name in obj)) continue;
        if (field.type === 'checkbox') field.checked = !!obj[field.name];
        else field.value = obj[field.name] ?? '';
    }
}

function empty(list, key) {
    list.replaceChildren(el('li', { class: 'muted', text: t(key) }));
}

async function bookings() {
    const box = $('#bookings-list');
    const answer = await api('GET', '/customers/me/bookings?limit=100');
    const rows = answer.data || [];
    if (!rows.length) {
        box.replaceChildren(el('p', { class: 'muted', text: t('bookings.none') }));
        return;
    }
    box.replaceChildren(...rows.map(b => el('article', { class: 'card booking' },
        el('h3', {}, el('a', { href: '/booking/' + encodeURIComponent(b.id),
                               text: `${b.reference} · ${b.description}` })),
        el('p', { text: `${date(b.travel_start)} – ${date(b.travel_end)}` }),
        el('p', {},
           el('span', { class: 'badge ' + b.payment_status,
                        text: t('payment_status.' + b.payment_status) }), ' ',
           `${money(b.amount_paid, b.currency)} / ${money(b.amount_total, b.currency)}`))));
}

async function profile() {
    const { customer } = await api('GET', '/customers/me');
    $('#dash-hello').textContent = t('dash.hello', { name: customer.first_name });
    $('#profile-email').textContent = customer.email;
    const form = $('#profile-form');
    fill(form, customer);
    onSubmit(form, async data => {
        const body = { first_name: data.first_name ?? '', last_name: data.last_name ?? '',
                       phone: data.phone ? data.phone : null };
        fill(form, (await api('PATCH', '/customers/me', body)).customer);
        say(form, t('common.saved'));
    });
}

async function addresses() {
    const list = $('#addresses-list');
    const { data } = await api('GET', '/customers/me/addresses');
    if (!data.length) return empty(list, 'addr.none');
    list.replaceChildren(...data.map(a => el('li', { class: 'card' },
        el('p', {}, el('strong', { text: a.label }),
           a.is_default ? el('span', { class: 'badge', text: t('addr.default') }) : null),
        el('p', { text: [a.line1, a.line2, `${a.postal_code} ${a.city}`, a.region, a.country]
                       .filter(Boolean).join(', ') }),
        el('button', { type: 'button', class: 'secondary', text: t('addr.delete'),
                       'aria-label': t('addr.delete_named', { label: a.label }),
                       onclick: async () => {
                           await api('DELETE', '/customers/me/addresses/' + a.id);
                           await addresses();
                       } }))));
}

function addressForm() {
    onSubmit($('#address-form'), async (data, form) => {
        if (data.country) data.country = data.country.toUpperCase();
        await api('POST', '/customers/me/addresses', data);
        form.reset();
        say(form, t('common.saved'));
        await addresses();
    });
}

async function preferences() {
    const form = $('#prefs-form');
    fill(form, (await api('GET', '/customers/me/preferences')).preferences);
    onSubmit(form, async data => {
        data.currency = (data.currency || '').toLowerCase();
        const { preferences: p } = await api('PUT', '/customers/me/preferences', data);
        fill(form, p);
        localStorage.setItem('jklg.lang', p.language);
        say(form, t('common.saved'));
    });
}

async function sessions() {
    const list = $('#sessions-list');
    const { data } = await api('GET', '/customers/me/sessions');
    list.replaceChildren(...data.map(s => el('li', { class: 'card session' },
        el('p', {}, el('strong', { text: s.user_agent || t('sessions.unknown_device') }),
           s.current ? el('span', { class: 'badge', text: t('sessions.this_device') }) : null),
        el('p', { class: 'muted', text: t('sessions.detail', {
            ip: s.ip || '?', seen: date(s.last_seen_at), since: date(s.created_at) }) }),
        s.current ? null : el('button', {
            type: 'button', class: 'secondary', text: t('sessions.revoke'),
            'data-session': s.id,
            onclick: async () => {
                await api('DELETE', '/customers/me/sessions/' + s.id);
                await sessions();
                $('#sessions-h').focus?.();
            } }))));
}

// Cards kept for a balance (save_payment_method on the pay page).
async function cards() {
    const list = $('#cards-list');
    const { data } = await api('GET', '/customers/me/payment-methods');
    if (!data.length) return empty(list, 'cards.none');
    list.replaceChildren(...data.map(c => el('li', { class: 'card' },
        el('p', { text: t('cards.card', { brand: c.brand.charAt(0).toUpperCase() + c.brand.slice(1),
                                          last4: c.last4,
                                          month: String(c.exp_month).padStart(2, '0'),
                                          year: c.exp_year }) }),
        el('button', { type: 'button', class: 'secondary', text: t('cards.remove'),
                       'aria-label': t('cards.remove_named', { last4: c.last4 }),
                       'data-card': c.id,
                       onclick: () => optional(list, async () => {
                           await api('DELETE', '/customers/me/payment-methods/' + c.id);
                           await cards();
                       }) }))));
}

// --- security: endpoints of the second stage, each optional.

function mfa() {
    const start = $('#mfa-start-form');
    const confirm = $('#mfa-confirm-form');
    onSubmit(start, async () => {
        const answer = await api('POST', '/customers/me/mfa/totp', {});
        $('#mfa-secret').textContent = answer.secret;
        $('#mfa-url').href = answer.otpauth_url;
        start.hidden = true;
        confirm.hidden = false;
        $('#mfa_code').focus();
    });
    onSubmit(confirm, async data => {
        try {
            const { recovery_codes: codes } = await api('POST', '/customers/me/mfa/totp/confirm',
                                                        { code: data.code || '' });
            confirm.hidden = true;
            $('#mfa-codes-list').replaceChildren(...codes.map(c => el('li', {}, el('code', { text: c }))));
            $('#mfa-codes').hidden = false;
            await refreshEvents();
        } catch (err) {
            if (err.code === 'invalid_code') err.fields = { code: t('error.invalid_code') };
            throw err;
        }
    });
    onSubmit($('#mfa-disable-form'), async (data, form) => {
        // Six digits are an app's code; anything else a recovery code.
        const second = /^\d{6}$/.test(data.code || '') ? { code: data.code }
            : { recovery_code: data.code || '' };
        try {
            await api('DELETE', '/customers/me/mfa/totp', { password: data.password || '', ...second });
        } catch (err) {
            if (err.code === 'invalid_code') err.fields = { code: t('error.invalid_code') };
            if (err.code === 'invalid_credentials') err.fields = { password: t('error.invalid_password') };
            throw err;
        }
        form.reset();
        say(form, t('mfa.disabled'));
        // The codes shown at set-up are void now.
        $('#mfa-codes').hidden = true;
        $('#mfa-codes-list').replaceChildren();
        start.hidden = false;
        await refreshEvents();
    });
}

function emailChange() {
    onSubmit($('#email-form'), async (data, form) => {
        try {
            await api('POST', '/customers/me/email',
                      { new_email: data.new_email || '', password: data.password || '' });
        } catch (err) {
            if (err.code === 'invalid_credentials') err.fields = { password: t('error.invalid_password') };
            throw err;
        }
        form.reset();
        say(form, t('email.sent'));
    });
}

async function events() {
    const list = $('#events-list');
    const { data } = await api('GET', '/customers/me/security-events?limit=20');
    if (!data.length) return empty(list, 'events.none');
    list.replaceChildren(...data.map(e => el('li', {},
        el('strong', { text: t('event.' + e.type) }), ' ',
        el('span', { class: 'muted', text: `${date(e.created_at)} · ${e.ip || ''}` }))));
}

// The events list again after a change that records one.
function refreshEvents() {
    return optional($('#events-list'), events);
}

function exportData() {
    onSubmit($('#export-form'), async (_data, form) => {
        const doc = await api('GET', '/customers/me/export');
        const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)],
                                                 { type: 'application/json' }));
        const a = el('a', { href: url, download: 'my-data.json' });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
        say(form, t('export.done'));
    });
}

function deleteAccount() {
    onSubmit($('#delete-form'), async data => {
        if (!window.confirm(t('delete.confirm'))) return;
        try {
            await api('DELETE', '/customers/me', { password: data.password || '' });
        } catch (err) {
            if (err.code === 'invalid_credentials') err.fields = { password: t('error.invalid_password') };
            throw err;
        }
        token.clear();
        location.assign('/signup');
    });
}

boot(async () => {
    // The customer first: a 401 here sends the person to /login at once.
    await profile();
    addressForm();
    mfa();
    emailChange();
    exportData();
    deleteAccount();
    await Promise.all([
        bookings(), addresses(), preferences(), sessions(),
        refreshEvents(), optional($('#cards-list'), cards),
    ]);
});
