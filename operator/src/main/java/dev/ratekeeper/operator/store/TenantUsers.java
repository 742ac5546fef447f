package dev.ratekeeper.operator.store;

import dev.ratekeeper.policy.keys.TenantAcl;
import java.util.ArrayList;
import java.util.List;
import redis.clients.jedis.exceptions.JedisException;

/**
 * Per-namespace Redis users ({@link TenantAcl}): written with {@code ACL SETUSER} on every data node,
 * replicas included (ACLs are neither replicated nor shared across a Cluster), so that a replica that
 * takes over, or a node that gets a slot, knows them. Writing is idempotent and replaces the user's
 * rules and password, so it also heals a node that restarted without them. The operator's own Redis
 * user needs {@code ACL SETUSER}/{@code DELUSER} for this (the default user has them).
 */
public final class TenantUsers {
  private final RedisNodes nodes;
  private final String address;

  TenantUsers(RedisNodes nodes, String address) {
    this.nodes = nodes;
    this.address = address;
  }

  /** Creates or replaces {@code namespace}'s user with {@code password}. */
  public void ensure(String namespace, String password) {
    List<String> rules = new ArrayList<>(List.of("reset", "resetpass", ">" + password));
    rules.addAll(TenantAcl.rules(namespace));
    String[] args = rules.toArray(String[]::new);
    try {
      nodes.onEveryNode(jedis -> jedis.aclSetUser(TenantAcl.userName(namespace), args));
    } catch (JedisException e) {
      // the message names the user, never the password
      throw new StoreUnavailableException("Redis at " + address + " failed while writing the ACL user "
          + TenantAcl.userName(namespace), e);
    }
  }

  /** Removes {@code namespace}'s user, where it exists. */
  public void remove(String namespace) {
    try {
      nodes.onEveryNode(jedis -> jedis.aclDelUser(TenantAcl.userName(namespace)));
    } catch (JedisException e) {
      throw new StoreUnavailableException("Redis at " + address + " failed while removing the ACL user "
          + TenantAcl.userName(namespace), e);
    }
  }
}
