// Templates the tests need: the `otp` template with an approved WhatsApp template (WhatsApp codes need one).
import type { TestApp } from './test-app';

export const OTP_WHATSAPP_SID = 'HX' + '0123456789abcdef'.repeat(2);
export const OTP_TEXT = 'Your verification code is {{code}}. It expires in {{minutes}} minutes.';

/** Gives the `otp` template a WhatsApp content sid (same text), as a deployment sending codes by WhatsApp must. */
export async function otpTemplateForWhatsApp(t: TestApp): Promise<void> {
  const res = await t.request({
    method: 'PUT',
    url: '/admin/templates/otp',
    as: 'admin',
    payload: {
      variables: ['code', 'minutes'],
      locales: { en: { body: OTP_TEXT, whatsapp_content_sid: OTP_WHATSAPP_SID } },
    },
  });
  if (res.statusCode >= 300)
    throw new Error(`PUT /admin/templates/otp answered ${res.statusCode}: ${res.body}`);
}
