import { api, boot, t, param, $ } from './app.js';

// The one-click links of the security emails: each posts its token to the
// endpoint named like the page.
const PAGES = {
    'secure-account': 'secure',
    'confirm-email-change': 'confirm_email',
    'revert-email-change': 'revert_email',
};

boot(async () => {
    const page = location.pathname.replace(/^\/|\/$/g, '');
    const key = PAGES[page];
    const status = $('#link-status');
    try {
        await api('POST', '/customers/' + page, { token: param('token') || '' },
                  { auth: 'none' });
        status.textContent = t(key + '.ok');
        status.className = 'notice ok';
        $('#link-next').hidden = false;
    } catch (err) {
        status.className = 'notice error';
        status.textContent = err.code === 'invalid_token' || err.code === 'validation_failed'
            ? t('link.bad') : err.status === 404 ? t('common.unavailable')
            : err.message;
    }
});
