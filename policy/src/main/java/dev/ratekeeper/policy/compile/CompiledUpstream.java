package dev.ratekeeper.policy.compile;

import dev.ratekeeper.policy.api.UpstreamFormat;

/** An upstream; the credentials reference names a Secret key, never the key itself. */
public record CompiledUpstream(String name, String url, UpstreamFormat format, String credentialsSecretName,
    String credentialsSecretKey) {}
