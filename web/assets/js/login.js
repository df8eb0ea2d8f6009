import { api, boot, onSubmit, say, t, token, param, safeNext, $ } from './app.js';

function loggedIn(answer) {
    token.set(answer.token);
    location.assign(safeNext(param('next')));
}

boot(async () => {
    let mfaToken = null;
    let email = null;
    const login = $('#login-form');
    if (param('next')) say(login, t('login.again'), 'info');
    onSubmit(login, async data => {
        email = data.email;
        try {
            loggedIn(await api('POST', '/customers/login', data, { auth: 'none' }));
        } catch (err) {
            if (err.code === 'mfa_required' && err.body.mfa_token) {
                // The password was right; the account asks for a code.
                mfaToken = err.body.mfa_token;
                login.hidden = true;
                $('#mfa-form').hidden = false;
                $('#code').focus();
                return;
            }
            if (err.code === 'email_not_verified') $('#resend-form').hidden = false;
            throw err;
        }
    });
    onSubmit($('#mfa-form'), async data => {
        const body = /^\d{6}$/.test(data.code || '')
            ? { mfa_token: mfaToken, code: data.code }
            : { mfa_token: mfaToken, recovery_code: data.code };
        try {
            loggedIn(await api('POST', '/customers/login/mfa', body, { auth: 'none' }));
        } catch (err) {
            if (err.status === 401) {   // the mfa_token expired: start again
                $('#mfa-form').hidden = true;
                login.hidden = false;
                say(login, t('login.mfa_expired'), 'error');
                return;
            }
            if (err.code === 'invalid_code') err.fields = { code: t('error.invalid_code') };
            throw err;
        }
    });
    onSubmit($('#resend-form'), async (_data, form) => {
        await api('POST', '/customers/resend-verification', { email }, { auth: 'none' });
        say(form, t('login.resent'));
    });
});
