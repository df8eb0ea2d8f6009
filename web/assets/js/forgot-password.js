import { api, boot, onSubmit, say, t, $ } from './app.js';

boot(async () => {
    onSubmit($('#forgot-form'), async (data, form) => {
        await api('POST', '/customers/forgot-password', data, { auth: 'none' });
        say(form, t('forgot.sent'));
    });
});
