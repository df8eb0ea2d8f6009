// Shared by every page: texts, the API client (token, 401 -> /login),
// field errors, formatting, branding. Plain ES module, no build step.
import en from '../i18n/en.js';

const TOKEN_KEY = 'jklg.token';
// Languages the pages know; the others fall back to English.
const LANGUAGES = ['en', 'pt', 'es', 'fr', 'de'];
let texts = en;
// The locale of numbers, money and dates (Intl): the browser's own tag when
// it is of the page's language (pt-PT, de-AT...), else the language alone.
let locale = 'en';

export function t(key, vars) {
    let s = texts[key] ?? en[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) {
        s = s.replaceAll('{' + k + '}', String(v));
    }
    return s;
}

function savedLanguage() {
    try {
        return localStorage.getItem('jklg.lang');
    } catch {
        return null;    // storage blocked: the browser's languages decide
    }
}

function validLocale(tag) {
    try {
        return Intl.getCanonicalLocales(tag)[0];
    } catch {
        return null;
    }
}

// The person's language: a saved preference, else the browser's, if we
// have a text file for it; en.js is always loaded as the fallback. The
// page's <html lang> follows, so that screen readers speak the right
// language, and so do money and dates.
async function loadTexts() {
    const browser = (navigator.languages && navigator.languages.length
        ? navigator.languages : [navigator.language]).filter(Boolean);
    let lang = [savedLanguage(), ...browser]
        .filter(Boolean).map(l => l.slice(0, 2).toLowerCase())
        .find(l => LANGUAGES.includes(l)) || 'en';
    if (lang !== 'en') {
        try {
            texts = { ...en, ...(await import(`../i18n/${lang}.js`)).default };
        } catch {
            texts = en;     // the file did not load: English throughout
            lang = 'en';
        }
    }
    const own = browser.find(l => l.toLowerCase().startsWith(lang + '-'));
    locale = (own && validLocale(own)) || lang;
    document.documentElement.lang = lang;
}

// Fills every [data-i18n] element's text, [data-i18n-*] attributes.
export function translate(root = document) {
    for (const el of root.querySelectorAll('[data-i18n]')) {
        el.textContent = t(el.dataset.i18n);
    }
    for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
        el.placeholder = t(el.dataset.i18nPlaceholder);
    }
    for (const el of root.querySelectorAll('[data-i18n-aria-label]')) {
        el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
    }
}

// --- the token: sessionStorage (see docs/web.md: survives a reload in this
// tab, is not shared with other tabs, is gone when the tab closes).
export const token = {
    get: () => sessionStorage.getItem(TOKEN_KEY),
    set: v => sessionStorage.setItem(TOKEN_KEY, v),
    clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
    constructor(status, body) {
        const err = (body && body.error) || {};
        super(err.message || `HTTP ${status}`);
        this.status = status;
        this.code = err.code || 'http_' + status;
        this.fields = err.fields || {};
        this.body = body || {};
    }
}

export function loginUrl() {
    return '/login?next=' + encodeURIComponent(location.pathname + location.search);
}

// Only a path on this site may be a redirect target after login.
export function safeNext(next) {
    return next && next.startsWith('/') && !next.startsWith('//')
        && !next.startsWith('/\\') ? next : '/customer-dashboard';
}

// One JSON call. auth: 'required' sends the token and turns any 401 into
// a trip to /login and back; 'optional' sends a token if there is one and
// throws 401s like other errors; 'none' sends no token.
export async function api(method, path, body, { auth = 'required' } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const tok = auth === 'none' ? null : token.get();
    if (!tok && auth === 'required') return toLogin();
    if (tok) headers.Authorization = 'Bearer ' + tok;
    let resp;
    try {
        resp = await fetch('/api' + path, {
            method, headers, credentials: 'omit',
            body: body === undefined ? undefined : JSON.stringify(body),
        });
    } catch {
        throw new ApiError(0, { error: { code: 'network', message: t('error.network') } });
    }
    const data = resp.status === 204 ? null
        : await resp.json().catch(() => null);
    // A wrong password asked again (email change, MFA off, deletion) is a
    // 401 too, but the session is fine: that one is the form's error.
    if (resp.status === 401 && auth === 'required'
        && data?.error?.code !== 'invalid_credentials') return toLogin();
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
}

function toLogin() {
    token.clear();
    location.assign(loginUrl());
    return new Promise(() => {});   // the page is going away
}

export async function logout() {
    try {
        await api('POST', '/customers/logout', undefined, { auth: 'optional' });
    } catch { /* the token is dropped anyway */ }
    token.clear();
    location.assign('/login');
}

// --- forms and messages

export function $(sel, root = document) {
    return root.querySelector(sel);
}

export function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'text') node.textContent = v;
        else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : v);
    }
    node.append(...children.filter(c => c !== null && c !== undefined));
    return node;
}

export function formData(form) {
    const out = {};
    for (const field of form.elements) {
        if (!field.name || field.disabled) continue;
        if (field.type === 'checkbox') out[field.name] = field.checked;
        else if (field.value.trim() !== '' || field.dataset.keepEmpty !== undefined)
            out[field.name] = field.value.trim();
    }
    return out;
}

export function clearErrors(form) {
    for (const n of form.querySelectorAll('.field-error')) n.remove();
    for (const n of form.querySelectorAll('[aria-invalid]')) {
        n.removeAttribute('aria-invalid');
        if (n.dataset.hint) n.setAttribute('aria-describedby', n.dataset.hint);
        else n.removeAttribute('aria-describedby');
    }
    const msg = form.querySelector('.form-message');
    if (msg) { msg.textContent = ''; msg.className = 'form-message'; }
}

// The API's error.fields next to the fields they name; anything else in
// the form's message line. The first bad field gets the focus.
export function showError(form, err) {
    clearErrors(form);
    let first = null;
    for (const [name, message] of Object.entries(err.fields || {})) {
        const field = form.elements[name];
        if (!field || !field.id) continue;
        const id = field.id + '-error';
        // The error is read out with the field, after any hint it has.
        field.dataset.hint ??= field.getAttribute('aria-describedby') || '';
        field.setAttribute('aria-invalid', 'true');
        field.setAttribute('aria-describedby', `${field.dataset.hint} ${id}`.trim());
        field.insertAdjacentElement('afterend',
            el('p', { class: 'field-error', id, text: message }));
        first = first || field;
    }
    say(form, first ? t('error.fields') : errorText(err), 'error');
    (first || form.querySelector('.form-message'))?.focus?.();
}

export function errorText(err) {
    const key = 'error.' + err.code;
    return t(key) !== key ? t(key) : err.message;
}

export function say(form, text, kind = 'ok') {
    let msg = form.querySelector('.form-message');
    if (!msg) {
        msg = el('p', { class: 'form-message', role: 'status', tabindex: '-1' });
        form.append(msg);
    }
    msg.textContent = text;
    msg.className = 'form-message ' + kind;
}

// Submits a form through handler(data); busy state, errors shown.
export function onSubmit(form, handler) {
    form.addEventListener('submit', async ev => {
        ev.preventDefault();
        const button = form.querySelector('button[type=submit]');
        clearErrors(form);
        if (button) button.disabled = true;
        try {
            await handler(formData(form), form);
        } catch (err) {
            if (!(err instanceof ApiError)) throw err;
            showError(form, err);
        } finally {
            if (button) button.disabled = false;
        }
    });
}

// --- formatting

export function money(amount, currency) {
    try {
        return new Intl.NumberFormat(locale, {
            style: 'currency', currency: currency.toUpperCase(),
        }).format(amount / 100);
    } catch {
        return (amount / 100).toFixed(2) + ' ' + currency.toUpperCase();
    }
}

export function date(value) {
    if (!value) return '';
    const d = new Date(value.length === 10 ? value + 'T00:00:00Z' : value);
    const opts = value.length === 10 ? { dateStyle: 'medium', timeZone: 'UTC' }
        : { dateStyle: 'medium', timeStyle: 'short' };
    return new Intl.DateTimeFormat(locale, opts).format(d);
}

export function param(name) {
    return new URLSearchParams(location.search).get(name);
}

// --- branding: name and logo from /assets/brand/brand.json, colours from
// /assets/brand/brand.css (both the agency's to edit).
async function brand() {
    let b = { name: 'JKLG Travel', logo: '/assets/brand/logo.svg' };
    try {
        const resp = await fetch('/assets/brand/brand.json');
        if (resp.ok) b = { ...b, ...(await resp.json()) };
    } catch { /* defaults */ }
    const home = $('.brand');
    if (home) {
        home.replaceChildren(
            b.logo ? el('img', { src: b.logo, alt: '', width: 32, height: 32 }) : null,
            el('span', { text: b.name }));
    }
    document.title = document.title ? `${document.title} · ${b.name}` : b.name;
    return b;
}

function header() {
    const nav = $('.site-nav');
    if (!nav) return;
    if (token.get()) {
        nav.replaceChildren(
            el('a', { href: '/customer-dashboard', text: t('nav.dashboard') }),
            el('button', { type: 'button', class: 'link', text: t('nav.logout'),
                           onclick: logout }));
    } else {
        nav.replaceChildren(
            el('a', { href: '/login', text: t('nav.login') }),
            el('a', { href: '/signup', text: t('nav.signup') }));
    }
}

// Every page: texts, branding, header; then the page's own start().
export async function boot(start) {
    await loadTexts();
    const titleKey = document.body.dataset.title;
    if (titleKey) document.title = t(titleKey);
    translate();
    await brand();
    header();
    try {
        await start();
    } catch (err) {
        const main = $('main');
        main.append(el('p', { class: 'notice error', role: 'alert',
                              text: err instanceof ApiError ? errorText(err) : t('error.internal') }));
        if (!(err instanceof ApiError)) throw err;
    }
    document.body.dataset.ready = 'true';
}
