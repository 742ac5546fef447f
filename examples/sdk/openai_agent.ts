// A minimal agent behind the Ratekeeper sidecar, with the OpenAI Node SDK v5 (npm install openai).
//
// The only changes from a plain agent:
//  * the base URL: the webhook sets OPENAI_BASE_URL=http://127.0.0.1:8787/openai/v1 in the pod, and
//    the SDK reads it (outside Kubernetes, export it yourself towards a sidecar you run);
//  * the header naming the end user the agent acts for, so that user's tier and budget apply.
import OpenAI from "openai";

const client = new OpenAI({
  // baseURL: taken from OPENAI_BASE_URL
  defaultHeaders: { "X-Ratekeeper-User": process.env.AGENT_USER ?? "alice" },
});

async function ask(question: string): Promise<string> {
  try {
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      max_completion_tokens: 256,
      messages: [{ role: "user", content: question }],
    });
    return completion.choices[0].message.content ?? "";
  } catch (err) {
    // A 429 from Ratekeeper names the limit; the SDK already retried what retry-after allowed
    // (not when the answer carries x-should-retry: false, e.g. a spent budget).
    if (err instanceof OpenAI.RateLimitError) {
      return `limited by ${err.headers?.get("x-ratekeeper-limited-by") ?? "the provider"}`;
    }
    throw err;
  }
}

// The same call, reading the headers Ratekeeper adds to allowed responses.
const { data, response } = await client.chat.completions
  .create({ model: "gpt-4o-mini", max_completion_tokens: 64, messages: [{ role: "user", content: "Say hello." }] })
  .withResponse();
console.log("remaining requests:", response.headers.get("x-ratekeeper-remaining-requests"));
console.log("budget left (USD):", response.headers.get("x-ratekeeper-budget-remaining-usd"));
console.log(data.choices[0].message.content);

console.log(await ask("Give me one short tip for writing clear commit messages."));
