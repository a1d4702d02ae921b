-- Reply-path speed (issues 14 and 20): memory recall and the exemplar lookup.

-- Memory: a binary-quantised copy of every embedding (1 bit per dimension, 192 bytes, stored
-- inline — the vector itself is 6 KB and TOASTed). Recall ranks a user's turns by Hamming distance
-- over this column, read index-only from the covering index below, and re-ranks the best few by
-- their real cosine distance (memory.repository.ts searchQuantized).
alter table conversation_messages add column if not exists embedding_bq bit(1536)
  generated always as (binary_quantize(embedding)::bit(1536)) stored;
create index if not exists conversation_messages_user_bq_idx
  on conversation_messages (ig_user_id, id) include (embedding_bq)
  where embedding_bq is not null and role in ('user', 'assistant');

-- Memory, the largest histories: per-user top-k through the global HNSW index with pgvector's
-- iterative scan, in ONE round trip. The function's SET clauses (and the set_config of ef_search
-- inside) apply while it runs and are restored when it returns. The planner prices a selective
-- filter + HNSW above a seq scan + sort, so seq scans are off inside; `ig_user_id || ''` keeps the
-- btree from serving the filter.
create or replace function memory_hnsw_neighbours(p_user text, q vector, k int, exclude bigint[], ef int)
returns table (id bigint, distance float8)
language plpgsql stable
set enable_seqscan = off
set hnsw.iterative_scan = 'relaxed_order'
set hnsw.ef_search = 40
as $$
begin
  perform set_config('hnsw.ef_search', greatest(k, least(ef, 1000))::text, true);
  return query
    select m.id, (m.embedding <=> q)::float8
      from conversation_messages m
     where m.ig_user_id || '' = p_user and m.role in ('user', 'assistant')
       and not (m.id = any(exclude))
     order by m.embedding <=> q
     limit k;
end
$$;

-- Exemplars: one HNSW index PER SET (partial, `where set_id = N`), built when the set is built
-- (exemplar-sets.ts). A set is immutable but for GDPR deletes, and the lookup only ever searches
-- one set, so its own graph answers with a plain, unfiltered HNSW scan: no iterative scan, no
-- filter starving the beam, and the other sets' rows are never visited. The global index goes.
drop index if exists exemplars_embedding_idx;
do $$
declare s record;
begin
  for s in select id from exemplar_sets where status = 'ready' and examples > 200 loop
    execute format(
      'create index if not exists exemplars_set_%s_hnsw on exemplars using hnsw (embedding vector_cosine_ops) where set_id = %s',
      s.id, s.id);
  end loop;
end
$$;

-- The top-k of one READY set, in one round trip. The query is built with the set id as a literal
-- so the planner can prove the set's partial index applies; sorts are off inside so it takes the
-- HNSW index over a btree scan + sort (which it prices lower, wrongly). A small set has no index of
-- its own and is scanned exactly (the sort is then the only plan and is used anyway). `ef` is the
-- beam for a 10,000-exemplar set; larger sets get ef × ceil(sqrt(size / 10,000)) (a bigger graph
-- needs a wider beam for the same recall; bench/exemplars.bench.ts), at most 1000.
create or replace function exemplar_neighbours(p_set bigint, q vector, k int, ef int)
returns table (id bigint, distance float8)
language plpgsql stable
set enable_sort = off
set hnsw.ef_search = 40
as $$
declare n int;
begin
  select s.examples into n from exemplar_sets s where s.id = p_set and s.status = 'ready';
  if not found then
    return;
  end if;
  perform set_config('hnsw.ef_search',
    greatest(k, least(1000, ef * greatest(1, ceil(sqrt(n / 10000.0)))::int))::text, true);
  return query execute format(
    'select e.id, (e.embedding <=> $1)::float8 from exemplars e where e.set_id = %s
      order by e.embedding <=> $1 limit $2', p_set)
    using q, k;
end
$$;
