# The stub provider (Anthropic and OpenAI wire formats) for the kind end-to-end run; not a product image.
ARG BASE_IMAGE=gcr.io/distroless/java17-debian12:nonroot
FROM ${BASE_IMAGE}
COPY demo/target/ratekeeper-demo.jar /app/ratekeeper-demo.jar
USER 65532:65532
EXPOSE 9001
ENTRYPOINT ["java", "-XX:+UseSerialGC", "-cp", "/app/ratekeeper-demo.jar", "dev.ratekeeper.testkit.StubServerMain", "--port", "9001"]
