-- Exemplar lookup with a cached plan (issues 14 and 20). `exemplar_neighbours` (0018) builds its
-- query text per call (the set id must be a literal for the planner to prove the set's partial
-- HNSW index applies), so every lookup is planned again: ~15 % of its time on the embedded Postgres
-- (measured side by side on the same sets; README, Reply-path performance). Each READY set now
-- gets its own lookup function,
-- `exemplar_set_<id>_neighbours(q, k, ef)`, with the set id written into static SQL: PL/pgSQL keeps
-- its plans (generic, so nothing is re-planned per vector), and the beam scale for the set's size
-- (ef × ceil(sqrt(size / 10,000)), as 0018, at most 1000) is fixed when the function is made. Like
-- 0018 it returns nothing unless the set is ready.
--
-- `create_exemplar_set_lookup(set)` makes (or remakes) it; the exemplar build calls it in the
-- transaction that marks the set ready (packages/models/src/exemplar-sets.ts), so the function
-- becomes visible with the set, never before. Sets built before this migration get theirs below.
-- `exemplar_neighbours` stays: the lookup falls back to it for a set without a function.
create or replace function create_exemplar_set_lookup(p_set bigint)
returns void
language plpgsql
as $$
declare
  n int;
  scale int;
begin
  select s.examples into n from exemplar_sets s where s.id = p_set;
  if not found then
    raise exception 'exemplar set % does not exist', p_set;
  end if;
  scale := greatest(1, ceil(sqrt(coalesce(n, 0) / 10000.0)))::int;
  execute format($fn$
    create or replace function %I(q vector, k int, ef int)
    returns table (id bigint, prompt text, answer text, tokens int, distance float8)
    language plpgsql stable
    set enable_sort = off
    set plan_cache_mode = force_generic_plan
    set hnsw.ef_search = 40
    as $body$
    begin
      if not exists (select 1 from exemplar_sets s where s.id = %s and s.status = 'ready') then
        return;
      end if;
      perform set_config('hnsw.ef_search', greatest(k, least(1000, ef * %s))::text, true);
      return query
        select e.id, e.prompt, e.answer, e.tokens, (e.embedding <=> q)::float8
          from exemplars e where e.set_id = %s order by e.embedding <=> q limit k;
    end
    $body$
  $fn$, 'exemplar_set_' || p_set || '_neighbours', p_set, scale, p_set);
end
$$;

do $$
declare s record;
begin
  for s in select id from exemplar_sets where status = 'ready' loop
    perform create_exemplar_set_lookup(s.id);
  end loop;
end
$$;
