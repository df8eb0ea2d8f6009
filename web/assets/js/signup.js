import { api, boot, onSubmit, $ } from './app.js';

boot(async () => {
    onSubmit($('#signup-form'), async (data, form) => {
        await api('POST', '/customers/register', data, { auth: 'none' });
        form.hidden = true;
        const done = $('#signup-done');
        done.hidden = false;
        done.focus();
    });
});
