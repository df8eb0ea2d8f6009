/* A stand-in for the small part of Stripe.js that mod_jklg's pay page uses,
 * served by the Stripe API stand-in (tests/harness/stripe.py) at /v3/.
 * Not Stripe's code: no card fields and no iframe. Its "Payment Element"
 * is a choice of test outcome; confirmPayment asks the stand-in to apply it
 * to the PaymentIntent (which sends the signed webhook to mod_jklg), then
 * goes to return_url as Stripe.js does, or resolves with {error}. */
(function () {
    'use strict';
    var base = new URL(document.currentScript.src).origin;
    var OUTCOMES = [
        ['succeed', 'Test card 4242 4242 4242 4242: succeeds'],
        ['decline', 'Test card 4000 0000 0000 0002: declined'],
        ['process', 'Bank debit: stays processing'],
    ];

    function paymentElement(clientSecret) {
        var fieldset = null;
        return {
            mount: function (target) {
                var host = typeof target === 'string' ? document.querySelector(target) : target;
                if (!host) throw new Error('Stripe stand-in: nothing matches ' + target);
                fieldset = document.createElement('fieldset');
                fieldset.className = 'stripe-standin';
                var legend = document.createElement('legend');
                legend.textContent = 'Payment method (Stripe stand-in, test mode)';
                fieldset.append(legend);
                OUTCOMES.forEach(function (o, i) {
                    var id = 'stripe-standin-' + o[0];
                    var row = document.createElement('div');
                    var input = document.createElement('input');
                    input.type = 'radio';
                    input.name = 'stripe-standin-outcome';
                    input.value = o[0];
                    input.id = id;
                    input.checked = i === 0;
                    var label = document.createElement('label');
                    label.htmlFor = id;
                    label.textContent = ' ' + o[1];
                    row.append(input, label);
                    fieldset.append(row);
                });
                host.replaceChildren(fieldset);
            },
            outcome: function () {
                var checked = fieldset && fieldset.querySelector('input:checked');
                return checked ? checked.value : 'succeed';
            },
            clientSecret: clientSecret,
        };
    }

    function Stripe(publishableKey) {
        if (!/^pk_(test|live)_/.test(publishableKey || '')) {
            throw new Error('Stripe stand-in: invalid publishable key');
        }
        return {
            elements: function (options) {
                var created = null;
                return {
                    create: function (kind) {
                        if (kind !== 'payment') throw new Error('Stripe stand-in: only the payment element');
                        created = paymentElement(options.clientSecret);
                        return created;
                    },
                    _element: function () { return created; },
                };
            },
            confirmPayment: function (args) {
                var element = args.elements._element();
                var returnUrl = args.confirmParams && args.confirmParams.return_url;
                if (!element || !returnUrl) {
                    return Promise.resolve({ error: { type: 'invalid_request_error',
                        message: 'Stripe stand-in: mount a payment element and give return_url' } });
                }
                var body = new URLSearchParams({ client_secret: element.clientSecret,
                                                 outcome: element.outcome() });
                return fetch(base + '/_standin/js/confirm', { method: 'POST', body: body })
                    .then(function (resp) { return resp.json(); })
                    .then(function (answer) {
                        if (answer.error) return { error: answer.error };
                        var pi = answer.payment_intent;
                        if (pi.status === 'requires_payment_method') {
                            return { error: Object.assign({ type: 'card_error' },
                                                          pi.last_payment_error || {}) };
                        }
                        var url = new URL(returnUrl);
                        url.searchParams.set('payment_intent', pi.id);
                        url.searchParams.set('payment_intent_client_secret', element.clientSecret);
                        url.searchParams.set('redirect_status',
                                             pi.status === 'succeeded' ? 'succeeded' : 'pending');
                        window.location.assign(url.toString());
                        return new Promise(function () {});   // leaving the page
                    });
            },
        };
    }

    window.Stripe = Stripe;
})();
