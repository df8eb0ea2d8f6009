import { api, boot, onSubmit, say, t, ApiError, $ } from './app.js';

boot(async () => {
    const tok = decodeURIComponent(location.pathname.split('/').pop() || '');
    onSubmit($('#reset-form'), async (data, form) => {
        if (data.password !== data.password_again) {
            throw new ApiError(422, { error: { code: 'validation_failed',
                fields: { password_again: t('reset.mismatch') } } });
        }
        try {
            await api('POST', '/customers/reset-password',
                      { token: tok, password: data.password || '' }, { auth: 'none' });
        } catch (err) {
            if (err.code === 'invalid_token') $('#reset-expired').hidden = false;
            throw err;
        }
        form.querySelector('button').hidden = true;
        say(form, t('reset.ok'));
        $('#reset-next').hidden = false;
    });
});
