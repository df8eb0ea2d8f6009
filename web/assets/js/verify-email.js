import { api, boot, onSubmit, say, t, param, $ } from './app.js';

// The address is confirmed on arrival; an expired or used link offers a
// new one.
boot(async () => {
    const status = $('#verify-status');
    try {
        await api('POST', '/customers/verify-email', { token: param('token') || '' },
                  { auth: 'none' });
        status.textContent = t('verify.ok');
        status.className = 'notice ok';
        $('#verify-next').hidden = false;
    } catch (err) {
        if (err.code !== 'invalid_token' && err.code !== 'validation_failed') throw err;
        status.textContent = t('verify.bad');
        status.className = 'notice error';
        $('#resend-form').hidden = false;
    }
    onSubmit($('#resend-form'), async (data, form) => {
        await api('POST', '/customers/resend-verification', data, { auth: 'none' });
        say(form, t('login.resent'));
    });
});
