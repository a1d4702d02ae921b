-- Exemplar lookup on the reply path (issues 14 and 20): the top-k of one READY set with what the
-- prompt needs (text, stored token count, exact cosine distance) in ONE statement. Before, the
-- function returned ids and the caller's query fetched the rows again by primary key and
-- recomputed each hit's distance (reading its 6 KB vector a second time).
--
-- As in 0016: the query carries the set id as a literal so the planner can prove the set's own
-- partial HNSW index applies; sorts are off inside so it walks that index (it would price a btree
-- scan + sort of the whole set lower, wrongly); a small set has no index of its own and is scanned
-- exactly (the sort is then the only plan and is used anyway). `ef` is the beam for a
-- 10,000-exemplar set; larger sets get ef × ceil(sqrt(size / 10,000)), at most 1000
-- (bench/exemplars.bench.ts: recall@4 vs the exact scan at 10k and 100k). The settings apply while
-- the function runs and are restored when it returns.
drop function if exists exemplar_neighbours(bigint, vector, int, int);
create function exemplar_neighbours(p_set bigint, q vector, k int, ef int)
returns table (id bigint, prompt text, answer text, tokens int, distance float8)
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
    'select e.id, e.prompt, e.answer, e.tokens, (e.embedding <=> $1)::float8 from exemplars e
      where e.set_id = %s order by e.embedding <=> $1 limit $2', p_set)
    using q, k;
end
$$;
